// Stores a valid authorization request and returns the consent-ui address that carries its handle.
import type { Audit } from '#shared/audit/publish-audit-event.ts';
import type { Clock } from '#shared/clock.ts';
import { addSeconds } from '#shared/clock.ts';
import { randomToken, sha256 } from '#shared/crypto.ts';
import type { AuthorizationRequest, AuthorizeStore } from './store.ts';

export type Deps = {
  store: Pick<AuthorizeStore, 'saveRequest'>;
  clock: Clock;
  audit: Audit;
  requestTtlSeconds: number;
  consentUiUrl: string;
};

export async function startAuthorization(deps: Deps, request: AuthorizationRequest): Promise<string> {
  const handle = randomToken(32);
  const now = deps.clock.now();
  await deps.store.saveRequest(sha256(handle), request, now, addSeconds(now, deps.requestTtlSeconds));
  deps.audit.emit('oauth.authorization.requested', request.clientId, { client_id: request.clientId, scope: request.scopes.join(' ') });
  return `${deps.consentUiUrl}/ui/authorize?handle=${handle}`;
}
