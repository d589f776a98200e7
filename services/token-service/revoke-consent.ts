// The resource owner withdrew a client's access (consent-ui "Your authorizations"): every grant
// (refresh token family) of that owner with that client ends, with its refresh and access tokens,
// and everything issued to the client for the owner until now is refused (a subject_client
// revocation).
import type { Audit } from '#shared/audit/publish-audit-event.ts';
import type { Clock } from '#shared/clock.ts';
import { subjectClientKey } from '#shared/grants/revocation-feed.ts';
import type { ClientDoc } from '#shared/reference-data/clients.ts';
import { MAX_CODE_TTL_SECONDS } from '#shared/grants/authorization-codes.ts';
import { MAX_ACCESS_TOKEN_TTL_SECONDS } from '#shared/reference-data/clients.ts';
import { recordGrantRevocation, revocationExpiry, type RecordRevocation } from './revoke-grant.ts';
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
  // Each live grant is revoked as a whole, for as long as its sealed refresh tokens could be
  // presented: that is what refuses them (and every access token of the grant, whenever minted).
  const families = await deps.store.revokeFamiliesOf(request.sub, request.clientId, now);
  await Promise.all(families.map((f) => recordGrantRevocation(deps.recordRevocation, f.grantId, ttl, now, f.expiresAt)));
  // And everything issued to the client for the owner until now, including grants whose code was
  // approved before and is redeemed after: they start at their approval (shared/grants/refresh-tokens.ts).
  const cutOff = deps.clock.now();
  const coveredSeconds = Math.max(ttl, client ? client.refreshTokenTtlSeconds + MAX_CODE_TTL_SECONDS : 0);
  await deps.recordRevocation({ kind: 'subject_client', key: subjectClientKey(request.sub, request.clientId), issuedBefore: cutOff, expiresAt: revocationExpiry(cutOff, coveredSeconds) });
  const revokedFamilies = families.length;
  await deps.audit.emit('oauth.consent.revoked', request.clientId, { client_id: request.clientId, sub: request.sub, count: revokedFamilies });
  return { revokedFamilies };
}
