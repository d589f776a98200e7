// The resource owner withdrew a client's access (consent-ui "Your authorizations"): every refresh
// token family of that owner with that client ends, and every access token issued to the client
// for the owner until now is refused (a subject_client revocation).
import type { Audit } from '#shared/audit/publish-audit-event.ts';
import type { Clock } from '#shared/clock.ts';
import { subjectClientKey } from '#shared/revocations.ts';
import type { ClientDoc } from '#shared/reference-data/clients.ts';
import { MAX_ACCESS_TOKEN_TTL_SECONDS, revocationExpiry, type RecordRevocation } from './revoke-grant.ts';
import type { TokenStore } from './store.ts';

export type Deps = {
  store: Pick<TokenStore, 'revokeFamiliesOf'>;
  clock: Clock;
  audit: Audit;
  findClient(id: string): Promise<ClientDoc | undefined>;
  recordRevocation: RecordRevocation;
};

export async function revokeConsent(deps: Deps, request: { sub: string; clientId: string }): Promise<{ revokedFamilies: number }> {
  const now = deps.clock.now();
  const client = await deps.findClient(request.clientId);
  // A deleted client's tokens may have had any lifetime up to the maximum.
  const ttl = client?.accessTokenTtlSeconds ?? MAX_ACCESS_TOKEN_TTL_SECONDS;
  // Families first, so no refresh can mint an access token after the cut-off recorded next.
  const revokedFamilies = await deps.store.revokeFamiliesOf(request.sub, request.clientId, now);
  const cutOff = deps.clock.now();
  await deps.recordRevocation({ kind: 'subject_client', key: subjectClientKey(request.sub, request.clientId), issuedBefore: cutOff, expiresAt: revocationExpiry(cutOff, ttl) });
  deps.audit.emit('oauth.consent.revoked', request.clientId, { client_id: request.clientId, sub: request.sub, count: revokedFamilies });
  return { revokedFamilies };
}
