// Tells consent-ui which client asks for which scopes, for the consent page.
import type { Clock } from '#shared/clock.ts';
import { sha256 } from '#shared/crypto.ts';
import { OAuthError } from '#shared/oauth-error.ts';
import type { ClientDoc } from '#shared/reference-data/clients.ts';
import type { ScopeDoc } from '#shared/reference-data/scopes.ts';
import type { AuthorizeStore } from './store.ts';

export type Deps = {
  store: Pick<AuthorizeStore, 'findRequest'>;
  clock: Clock;
  findClient(id: string): Promise<ClientDoc | undefined>;
  scope(name: string): ScopeDoc | undefined;
};

export type AuthorizationDescription = { clientId: string; clientName: string; scopes: { name: string; description: string }[] };

export async function describeAuthorization(deps: Deps, handle: string): Promise<AuthorizationDescription> {
  const request = await deps.store.findRequest(sha256(handle), deps.clock.now());
  if (!request) throw expiredRequest();
  const client = await deps.findClient(request.clientId);
  if (!client) throw expiredRequest();
  return {
    clientId: client._id,
    clientName: client.name,
    scopes: request.scopes.map((name) => ({ name, description: deps.scope(name)?.description ?? name })),
  };
}

export const expiredRequest = () =>
  new OAuthError('invalid_request', 'The authorization request is unknown, already answered or expired.');
