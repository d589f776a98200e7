// grant_type=refresh_token (RFC 6749 §6, RFC 9700 §4.14.2). The refresh token rotates on every
// use: only the family's current token is accepted, and spending it is one atomic claim, so of
// concurrent refreshes with one token exactly one wins. Any other presentation of a spent token
// (the losers of that race, or a later reuse) is reuse: the whole family is revoked, with every
// access token of the grant.
import type { Audit } from '#shared/audit/publish-audit-event.ts';
import type { Clock } from '#shared/clock.ts';
import { safeEqual, sha256 } from '#shared/crypto.ts';
import { OAuthError } from '#shared/oauth-error.ts';
import type { ClientDoc } from '#shared/reference-data/clients.ts';
import { parseScopeParameter } from '#shared/reference-data/scopes.ts';
import { issueAccessToken, type AccessTokenDeps, type TokenResult } from './issue-access-token.ts';
import { newRefreshToken, refreshTokenGrantId } from './refresh-token-format.ts';
import { recordGrantRevocation, type RecordRevocation } from './revoke-grant.ts';
import type { RefreshTokenFamily, TokenStore } from './store.ts';

export type Deps = {
  store: Pick<TokenStore, 'findFamily' | 'familyRevocationClaimed' | 'refreshTokenSpent' | 'spendRefreshToken' | 'setCurrentRefreshToken' | 'revokeFamily'>;
  clock: Clock;
  audit: Audit;
  tokens: AccessTokenDeps;
  recordRevocation: RecordRevocation;
};

export type RotateRefreshTokenInput = {
  client: ClientDoc;
  refreshToken: string | undefined;
  /** The `scope` parameter as sent: a narrower access token scope, never beyond the grant. */
  scope: string | undefined;
};

const invalidGrant = (detail: string) =>
  new OAuthError('invalid_grant', 'The refresh token is invalid, expired, revoked, or was issued to another client.', detail);

const invalidScope = (detail: string) =>
  new OAuthError('invalid_scope', 'The requested scope exceeds the scope originally granted.', detail);

export async function rotateRefreshToken(deps: Deps, input: RotateRefreshTokenInput): Promise<TokenResult> {
  const { client } = input;
  if (!client.grantTypes.includes('refresh_token')) {
    throw new OAuthError('unauthorized_client', 'The client may not use the refresh token grant.');
  }
  if (input.refreshToken === undefined) throw new OAuthError('invalid_request', 'The refresh_token parameter is missing.');
  const grantId = refreshTokenGrantId(input.refreshToken);
  if (!grantId) throw invalidGrant('malformed refresh token');
  const requested = parseRequestedScope(input.scope);

  const now = deps.clock.now();
  const tokenHash = sha256(input.refreshToken);
  const [family, revocationClaimed] = await Promise.all([deps.store.findFamily(grantId, now), deps.store.familyRevocationClaimed(grantId, now)]);
  if (!family) throw invalidGrant('unknown or expired refresh token family');
  // Another client's token is refused without spending it: the owner's family is left alone.
  if (family.clientId !== client._id) throw invalidGrant('refresh token issued to another client');
  if (family.revokedAt !== null || revocationClaimed) throw invalidGrant('refresh token family revoked');
  if (family.currentHash === null || !safeEqual(family.currentHash, tokenHash)) {
    // RFC 9700 §4.14.2: a rotated-out token presented again means it leaked; end the family.
    if (await deps.store.refreshTokenSpent(tokenHash, now)) {
      await revokeReusedFamily(deps, client, family, now);
      throw invalidGrant('rotated refresh token reused; family revoked');
    }
    throw invalidGrant('refresh token not known to its family');
  }
  // RFC 6749 §6: the scope must not include any scope not originally granted. Checked before the
  // token is spent, so a refused scope leaves the refresh token usable.
  if (requested && requested.some((s) => !family.scopes.includes(s) || !client.scopes.includes(s))) {
    throw invalidScope('scope beyond the original grant');
  }

  // Of every request presenting this token exactly one spends it. The others (the losers of a
  // concurrent race) presented a token that is now rotated out: reuse, as above.
  if (!(await deps.store.spendRefreshToken(tokenHash, family.expiresAt, now))) {
    await revokeReusedFamily(deps, client, family, now);
    throw invalidGrant('rotated refresh token reused; family revoked');
  }
  const next = newRefreshToken(grantId);
  // Without `scope`, the whole original grant (still within what the client may have).
  const scopes = requested ?? family.scopes.filter((s) => client.scopes.includes(s));
  // The new token is made current while the access token is signed; both before anything is returned.
  const [, accessToken] = await Promise.all([
    deps.store.setCurrentRefreshToken(grantId, tokenHash, next.hash, now),
    issueAccessToken(deps.tokens, {
      sub: family.sub, clientId: client._id, scopes, authTime: family.authTime, grantId, ttlSeconds: client.accessTokenTtlSeconds,
    }, now),
  ]);
  deps.audit.emit('oauth.token.refreshed', client._id, {
    client_id: client._id, sub: family.sub, username: family.username, scope: scopes.join(' '), grant_id: grantId, jti: accessToken.jti,
  });
  return { accessToken: accessToken.token, expiresIn: accessToken.expiresIn, scopes, refreshToken: next.token };
}

async function revokeReusedFamily(deps: Deps, client: ClientDoc, family: RefreshTokenFamily, now: Date): Promise<void> {
  // Only the request that revokes the family reports it, so a burst of reuses is one event.
  const reportsIt = await deps.store.revokeFamily(family.grantId, family.expiresAt, now);
  await recordGrantRevocation(deps.recordRevocation, family.grantId, Math.max(family.accessTokenTtlSeconds, client.accessTokenTtlSeconds), now);
  if (!reportsIt) return;
  deps.audit.emit('oauth.refresh_token.reused', client._id, {
    client_id: client._id, sub: family.sub, username: family.username, scope: family.scopes.join(' '), grant_id: family.grantId, reason: 'rotated refresh token presented again',
  });
}

/** RFC 6749 §3.3 scope parameter; undefined when absent. An empty or malformed one is invalid_scope. */
export function parseRequestedScope(scope: string | undefined): string[] | undefined {
  const parsed = parseScopeParameter(scope);
  if (parsed === 'invalid') throw invalidScope('malformed scope parameter');
  return parsed;
}
