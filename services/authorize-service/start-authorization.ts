// Seals a valid authorization request into its handle and returns the consent-ui address that carries it.
import type { Audit } from '#shared/audit/publish-audit-event.ts';
import type { Clock } from '#shared/clock.ts';
import { addSeconds } from '#shared/clock.ts';
import { randomToken } from '#shared/crypto.ts';
import { OAuthError } from '#shared/oauth-error.ts';
import { MAX_SEALED_LENGTH } from '#shared/grants/sealed-state.ts';
import type { AuthorizationRequest, AuthorizationRequests } from '#shared/grants/authorization-requests.ts';

export type Deps = {
  requests: AuthorizationRequests;
  clock: Clock;
  audit: Audit;
  requestTtlSeconds: number;
  consentUiUrl: string;
};

export async function startAuthorization(deps: Deps, request: AuthorizationRequest): Promise<string> {
  const now = deps.clock.now();
  const handle = deps.requests.seal({ id: randomToken(16), ...request }, addSeconds(now, deps.requestTtlSeconds));
  // Only a request near every parameter's ceiling at once comes close.
  if (handle.length > MAX_SEALED_LENGTH) throw new OAuthError('invalid_request', 'The authorization request is too large.');
  await auditRequested(deps.audit, request);
  return `${deps.consentUiUrl}/ui/authorize?handle=${handle}`;
}

export const auditRequested = (audit: Audit, request: AuthorizationRequest) =>
  audit.emit('oauth.authorization.requested', request.clientId, { client_id: request.clientId, scope: request.scopes.join(' ') });
