// POST /par (RFC 9126 §2): the client authenticates here exactly as at /token (same module, same
// failure records and lockout: token-service owns client authentication), then authorize-service,
// the owner of authorization requests, validates and seals what it pushed (oauth.authorization.push).
// Only the authenticated client_id goes on; the secret stops here.
import { authenticateClient, type ClientCredentials, type Deps as AuthenticateDeps } from '#shared/client-auth/authenticate-client.ts';
import type { PushedAuthorizationParams as PushedParams } from '#shared/contracts/authorization-push.ts';

export type PushedRequestUri = { requestUri: string; expiresIn: number };

export type Deps = {
  authenticate: AuthenticateDeps;
  /** Asks authorize-service to take the request (nats-client.ts); its refusals are OAuthErrors, its absence temporarily_unavailable. */
  forward(push: { clientId: string; params: PushedParams }, reqId: string): Promise<PushedRequestUri>;
};

export async function pushAuthorization(
  deps: Deps, input: { credentials: ClientCredentials; params: PushedParams; reqId: string },
): Promise<PushedRequestUri> {
  const { client } = await authenticateClient(deps.authenticate, input.credentials);
  return deps.forward({ clientId: client._id, params: input.params }, input.reqId);
}
