// Token revocation (RFC 7009). A client revokes only its own tokens: its refresh token ends the
// whole family and every access token of the grant (§2.1 "SHOULD"); its access token is recorded
// by `jti` until it expires. Anything else (another client's token, unknown, expired, garbage)
// changes nothing and is answered like success (§2.2), so the endpoint tells nobody what exists.
import type { Audit } from '#shared/audit/publish-audit-event.ts';
import { addSeconds, type Clock } from '#shared/clock.ts';
import { safeEqual, sha256 } from '#shared/crypto.ts';
import { OAuthError } from '#shared/oauth-error.ts';
import type { ClientDoc } from '#shared/reference-data/clients.ts';
import type { VerificationKeySource } from './signing-keys.ts';
import { verifyOwnAccessToken } from './issue-access-token.ts';
import { refreshTokenGrantId } from './refresh-token-format.ts';
import { REVOCATION_MARGIN_SECONDS, recordGrantRevocation, type RecordRevocation } from './revoke-grant.ts';
import type { TokenStore } from './store.ts';

export type Deps = {
  store: Pick<TokenStore, 'findFamily' | 'revokeFamily'>;
  clock: Clock;
  audit: Audit;
  keys: VerificationKeySource;
  issuer: string;
  recordRevocation: RecordRevocation;
};

export type RevokeTokenInput = {
  client: ClientDoc;
  token: string | undefined;
  /** RFC 7009 §2.1: a hint only; an unknown value is ignored, and both kinds are always tried. */
  tokenTypeHint: string | undefined;
};

export type RevokeOutcome = 'refresh_token' | 'access_token' | 'nothing';

export async function revokeToken(deps: Deps, input: RevokeTokenInput): Promise<RevokeOutcome> {
  if (input.token === undefined) throw new OAuthError('invalid_request', 'The token parameter is missing.');
  const tryAccessFirst = input.tokenTypeHint === 'access_token';
  const attempts = tryAccessFirst ? [revokeAccessToken, revokeRefreshToken] : [revokeRefreshToken, revokeAccessToken];
  const now = deps.clock.now();
  for (const attempt of attempts) {
    const outcome = await attempt(deps, input.client, input.token, now);
    if (outcome !== 'nothing') return outcome;
  }
  return 'nothing';
}

async function revokeRefreshToken(deps: Deps, client: ClientDoc, token: string, now: Date): Promise<RevokeOutcome> {
  const grantId = refreshTokenGrantId(token);
  if (!grantId) return 'nothing';
  const family = await deps.store.findFamily(grantId, now);
  // Only the current token of this client's live family; a rotated-out token is already invalid.
  if (!family || family.clientId !== client._id || family.revokedAt !== null) return 'nothing';
  if (family.currentHash === null || !safeEqual(family.currentHash, sha256(token))) return 'nothing';
  await deps.store.revokeFamily(grantId, family.expiresAt, now);
  await recordGrantRevocation(deps.recordRevocation, grantId, Math.max(family.accessTokenTtlSeconds, client.accessTokenTtlSeconds), now);
  deps.audit.emit('oauth.token.revoked', client._id, {
    client_id: client._id, sub: family.sub, username: family.username, grant_id: grantId, token_type: 'refresh_token',
  });
  return 'refresh_token';
}

async function revokeAccessToken(deps: Deps, client: ClientDoc, token: string, now: Date): Promise<RevokeOutcome> {
  // A JWS compact serialization has exactly two dots; a refresh token has one.
  if (token.split('.').length !== 3) return 'nothing';
  const claims = await verifyOwnAccessToken(deps, token, now);
  if (!claims || claims.client_id !== client._id) return 'nothing';
  await deps.recordRevocation({
    kind: 'jti', key: claims.jti, issuedBefore: now, expiresAt: addSeconds(new Date(claims.exp * 1000), REVOCATION_MARGIN_SECONDS),
  });
  deps.audit.emit('oauth.token.revoked', client._id, {
    client_id: client._id, sub: claims.sub, jti: claims.jti, ...(claims.gid ? { grant_id: claims.gid } : {}), token_type: 'access_token',
  });
  return 'access_token';
}
