// Token revocation (RFC 7009). A client revokes only its own tokens: its refresh token ends the
// whole family and every access token of the grant (§2.1 "SHOULD"); its access token is recorded
// by `jti` until it expires. Anything else (another client's token, unknown, expired, garbage)
// changes nothing and is answered like success (§2.2), so the endpoint tells nobody what exists.
import type { Audit } from '#shared/audit/publish-audit-event.ts';
import { addSeconds, type Clock } from '#shared/clock.ts';
import { OAuthError } from '#shared/oauth-error.ts';
import type { ClientDoc } from '#shared/reference-data/clients.ts';
import type { VerificationKeySource } from './signing-keys.ts';
import { verifyOwnAccessToken } from './issue-access-token.ts';
import type { RefreshTokens } from '#shared/grants/refresh-tokens.ts';
import { REVOCATION_MARGIN_SECONDS, recordGrantRevocation, type RecordRevocation } from './revoke-grant.ts';
import type { TokenStore } from './store.ts';

export type Deps = {
  store: Pick<TokenStore, 'revokeFamily'>;
  refreshTokens: RefreshTokens;
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
  const opened = deps.refreshTokens.open(token);
  // Any token of this client's unexpired grant ends the grant (a rotated-out one included: its
  // holder is the client, and RFC 7009 §2.1 lets the server revoke the whole grant).
  if (!opened || opened.payload.clientId !== client._id || opened.expiresAt <= now) return 'nothing';
  const { payload: grant, expiresAt } = opened;
  const reportsIt = await deps.store.revokeFamily(grant.grantId, expiresAt, now);
  await recordGrantRevocation(deps.recordRevocation, grant.grantId, client.accessTokenTtlSeconds, now, expiresAt);
  if (!reportsIt) return 'nothing';
  await deps.audit.emit('oauth.token.revoked', client._id, {
    client_id: client._id, sub: grant.sub, username: grant.username, grant_id: grant.grantId, token_type: 'refresh_token',
  });
  return 'refresh_token';
}

async function revokeAccessToken(deps: Deps, client: ClientDoc, token: string, now: Date): Promise<RevokeOutcome> {
  // A JWS compact serialization has exactly two dots; a (sealed) refresh token has none.
  if (token.split('.').length !== 3) return 'nothing';
  const claims = await verifyOwnAccessToken(deps, token, now);
  if (!claims || claims.client_id !== client._id) return 'nothing';
  await deps.recordRevocation({
    kind: 'jti', key: claims.jti, issuedBefore: now, expiresAt: addSeconds(new Date(claims.exp * 1000), REVOCATION_MARGIN_SECONDS),
  });
  await deps.audit.emit('oauth.token.revoked', client._id, {
    client_id: client._id, sub: claims.sub, jti: claims.jti, ...(claims.gid ? { grant_id: claims.gid } : {}), token_type: 'access_token',
  });
  return 'access_token';
}
