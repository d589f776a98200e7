// What a pending authorization request asks for, read from its sealed handle: the client (as the
// reference data has it now) and the description of every requested scope. consent-ui shows it on
// its pages; authorize-service answers it to consent-ui of earlier releases. Reads nothing.
import type { Clock } from '#shared/clock.ts';
import { OAuthError } from '#shared/oauth-error.ts';
import type { ClientDoc } from '#shared/reference-data/clients.ts';
import type { ScopeDoc } from '#shared/reference-data/scopes.ts';
import type { AuthorizationRequests, PendingRequest } from './authorization-requests.ts';

export type AuthorizationDescription = {
  clientId: string;
  clientName: string;
  scopes: { name: string; description: string }[];
  /** RFC 8707: the resource servers the request names (empty when none). */
  resources: string[];
  /** When the request expires: until then the description holds. */
  expiresAt: Date;
};

export type DescribeDeps = {
  requests: Pick<AuthorizationRequests, 'open'>;
  clock: Clock;
  findClient(id: string): Promise<ClientDoc | undefined>;
  scope(name: string): ScopeDoc | undefined;
};

/** Unknown, tampered, expired and already answered requests are refused alike. */
export const unknownRequest = (why?: string) =>
  new OAuthError('invalid_request', 'The authorization request is unknown, already answered or expired.', why);

/** The request a handle carries, with its expiry; an unknown, tampered or expired handle is invalid_request. */
export function openRequest(deps: Pick<DescribeDeps, 'requests' | 'clock'>, handle: string): PendingRequest & { expiresAt: Date } {
  const opened = deps.requests.open(handle);
  if (!opened || opened.expiresAt <= deps.clock.now()) throw unknownRequest('the handle does not open or has expired');
  return { ...opened.payload, expiresAt: opened.expiresAt };
}

/** A request whose client was deleted or disabled since it began is invalid_request too. */
export async function describeRequest(deps: DescribeDeps, handle: string): Promise<AuthorizationDescription> {
  const request = openRequest(deps, handle);
  const client = await deps.findClient(request.clientId);
  if (!client || client.disabled === true) throw unknownRequest('the client is gone or disabled');
  return {
    clientId: client._id,
    clientName: client.name,
    scopes: request.scopes.map((name) => ({ name, description: deps.scope(name)?.description ?? name })),
    resources: request.resources ?? [],
    expiresAt: request.expiresAt,
  };
}
