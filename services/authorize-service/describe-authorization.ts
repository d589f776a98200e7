// Tells consent-ui which client asks for which scopes, for the consent page.
import type { Clock } from '#shared/clock.ts';
import { OAuthError } from '#shared/oauth-error.ts';
import type { ClientDoc } from '#shared/reference-data/clients.ts';
import type { ScopeDoc } from '#shared/reference-data/scopes.ts';
import type { AuthorizationRequests, PendingRequest } from '#shared/grants/authorization-requests.ts';

export type Deps = {
  requests: AuthorizationRequests;
  clock: Clock;
  findClient(id: string): Promise<ClientDoc | undefined>;
  scope(name: string): ScopeDoc | undefined;
};

export type AuthorizationDescription = {
  clientId: string;
  clientName: string;
  scopes: { name: string; description: string }[];
  /** RFC 8707: the resource servers the request names (empty when none). */
  resources: string[];
  /** When the request expires: until then the description holds (consent-ui may reuse it). */
  expiresAt: Date;
};

/**
 * A request already decided is still described (that would take a read); its decision is
 * refused all the same.
 */
export async function describeAuthorization(deps: Deps, handle: string): Promise<AuthorizationDescription> {
  const request = openRequest(deps, handle);
  const client = await deps.findClient(request.clientId);
  // A client deleted or disabled since the request began: the request cannot go on.
  if (!client || client.disabled === true) throw expiredRequest();
  return {
    clientId: client._id,
    clientName: client.name,
    scopes: request.scopes.map((name) => ({ name, description: deps.scope(name)?.description ?? name })),
    resources: request.resources ?? [],
    expiresAt: request.expiresAt,
  };
}

/** The request a handle carries, with its expiry; unknown, tampered and expired handles are refused alike. */
export function openRequest(deps: Pick<Deps, 'requests' | 'clock'>, handle: string): PendingRequest & { expiresAt: Date } {
  const opened = deps.requests.open(handle);
  if (!opened || opened.expiresAt <= deps.clock.now()) throw expiredRequest();
  return { ...opened.payload, expiresAt: opened.expiresAt };
}

export const expiredRequest = () =>
  new OAuthError('invalid_request', 'The authorization request is unknown, already answered or expired.');
