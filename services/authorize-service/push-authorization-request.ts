// RFC 9126 §2: the parameters a client pushed to POST /par. token-service serves that endpoint and
// authenticates the client (one owner of client authentication and its lockout), then hands them
// here over NATS (oauth.authorization.push) with the authenticated client_id. They are validated
// exactly as /authorize validates them (validate-authorization-request.ts), every error is an OAuth
// error token-service answers as JSON (§2.3), and the request is sealed into a short-lived,
// single-use request_uri bound to the client.
import type { Audit } from '#shared/audit/publish-audit-event.ts';
import { addSeconds, type Clock } from '#shared/clock.ts';
import { randomToken } from '#shared/crypto.ts';
import { MAX_SEALED_LENGTH } from '#shared/grants/sealed-state.ts';
import { OAuthError } from '#shared/oauth-error.ts';
import { REQUEST_URI_PREFIX, type PushedParams, type PushedRequests } from './pushed-requests.ts';
import { validateAuthorizationRequest, type Deps as ValidateDeps } from './validate-authorization-request.ts';

export type Deps = {
  validate: ValidateDeps;
  pushed: PushedRequests;
  clock: Clock;
  audit: Audit;
  ttlSeconds: number;
};

export type PushedRequestUri = { requestUri: string; expiresIn: number };

/** `clientId` is the client token-service authenticated; `params` are the form's, its secret left out. */
export async function pushAuthorizationRequest(deps: Deps, input: { clientId: string; params: PushedParams }): Promise<PushedRequestUri> {
  const { clientId } = input;
  // RFC 9126 §2.1: request_uri must not be pushed (a request naming another would chain them).
  if (input.params.request_uri !== undefined) throw new OAuthError('invalid_request', 'A pushed authorization request must not contain request_uri.');
  // The client_id in the body, if any, must be the authenticated client's (§2.1).
  if (input.params.client_id !== undefined && input.params.client_id !== clientId) {
    throw new OAuthError('invalid_request', 'The client_id does not match the authenticated client.');
  }
  const params: PushedParams = { ...input.params, client_id: clientId };
  const result = await validateAuthorizationRequest(deps.validate, params, { pushed: true });
  // §2.3: every error is the JSON error response here, the redirect URI's problems included.
  if (result.kind === 'show-error') throw new OAuthError('invalid_request', result.description);
  if (result.kind === 'redirect-error') throw result.error;

  const now = deps.clock.now();
  const sealed = deps.pushed.seal({ id: randomToken(16), clientId, params }, addSeconds(now, deps.ttlSeconds));
  if (sealed.length > MAX_SEALED_LENGTH) throw new OAuthError('invalid_request', 'The authorization request is too large.');
  await deps.audit.emit('oauth.authorization.pushed', clientId, { client_id: clientId, scope: result.request.scopes.join(' ') });
  return { requestUri: `${REQUEST_URI_PREFIX}${sealed}`, expiresIn: deps.ttlSeconds };
}
