// grant_type=authorization_code (RFC 6749 §4.1.3, RFC 7636 §4.6). The code is claimed atomically
// (store.claimCode), with its client, redirect URI and PKCE binding checked in the same step, so a
// code is redeemed at most once and a request that fails a check consumes nothing. Any other
// presentation of a consumed code (the losers of a concurrent race included) is a replay: the
// grant it started is revoked (RFC 6749 §4.1.2), once, and the request refused.
import type { Audit } from '#shared/audit/publish-audit-event.ts';
import { addSeconds, epochSeconds, type Clock } from '#shared/clock.ts';
import { sha256 } from '#shared/crypto.ts';
import { OAuthError } from '#shared/oauth-error.ts';
import { clientGetsRefreshTokens, type ClientDoc } from '#shared/reference-data/clients.ts';
import { issueAccessToken, type AccessTokenDeps, type TokenResult } from './issue-access-token.ts';
import type { RefreshTokens } from '#shared/refresh-tokens.ts';
import { firstRefreshToken } from './rotate-refresh-token.ts';
import { recordGrantRevocation, type RecordRevocation } from './revoke-grant.ts';
import type { AuthorizationCode, RefreshTokenFamily, TokenStore } from './store.ts';

export type Deps = {
  store: Pick<TokenStore, 'claimCode' | 'findCode' | 'claimCodeReplay' | 'revokeOrBlockFamily'>;
  refreshTokens: RefreshTokens;
  clock: Clock;
  audit: Audit;
  tokens: AccessTokenDeps;
  recordRevocation: RecordRevocation;
  log?: { info(obj: object, msg: string): void };
};

export type RedeemCodeInput = {
  client: ClientDoc;
  code: string | undefined;
  redirectUri: string | undefined;
  codeVerifier: string | undefined;
};

/** RFC 7636 §4.1: code-verifier = 43*128unreserved. */
const CODE_VERIFIER = /^[A-Za-z0-9\-._~]{43,128}$/;

const invalidGrant = (detail: string) =>
  new OAuthError('invalid_grant', 'The authorization code is invalid, expired, already used, or was issued to another client or redirect URI.', detail);

export async function redeemCode(deps: Deps, input: RedeemCodeInput): Promise<TokenResult> {
  const { client } = input;
  if (!client.grantTypes.includes('authorization_code')) {
    throw new OAuthError('unauthorized_client', 'The client may not use the authorization code grant.');
  }
  if (input.code === undefined) throw new OAuthError('invalid_request', 'The code parameter is missing.');
  if (input.codeVerifier !== undefined && !CODE_VERIFIER.test(input.codeVerifier)) throw invalidGrant('malformed code_verifier');
  // RFC 9700 §2.1.1: public clients must use PKCE.
  if (client.type === 'public' && input.codeVerifier === undefined) throw invalidGrant('public client sent no code_verifier');

  const now = deps.clock.now();
  const codeHash = sha256(input.code);
  // RFC 7636 §4.6: BASE64URL(SHA256(ASCII(code_verifier))) == code_challenge; sha256() is base64url.
  const codeChallenge = input.codeVerifier === undefined ? null : sha256(input.codeVerifier);
  // A client that gets refresh tokens has the code's family stored by the claim itself (one insert).
  let refreshToken: string | undefined;
  const familyFor = clientGetsRefreshTokens(client)
    ? (redeemed: AuthorizationCode): RefreshTokenFamily => {
      const expiresAt = addSeconds(now, client.refreshTokenTtlSeconds);
      refreshToken = firstRefreshToken(deps.refreshTokens, {
        g: redeemed.grantId, c: client._id, sub: redeemed.sub, u: redeemed.username, s: redeemed.scopes, at: epochSeconds(redeemed.authTime),
      }, now, expiresAt);
      return {
        grantId: redeemed.grantId,
        clientId: client._id,
        sub: redeemed.sub,
        username: redeemed.username,
        scopes: redeemed.scopes,
        authTime: redeemed.authTime,
        accessTokenTtlSeconds: client.accessTokenTtlSeconds,
        createdAt: now,
        expiresAt,
        revokedAt: null,
      };
    }
    : undefined;
  const code = await deps.store.claimCode(codeHash, { clientId: client._id, codeChallenge, redirectUri: input.redirectUri }, now, familyFor);
  if (!code) throw await refusal(deps, input, codeHash, codeChallenge, now);

  const accessToken = await issueAccessToken(deps.tokens, {
    sub: code.sub, clientId: client._id, scopes: code.scopes, authTime: code.authTime, grantId: code.grantId, ttlSeconds: client.accessTokenTtlSeconds,
  }, now);
  deps.audit.emit('oauth.token.issued', client._id, {
    client_id: client._id, sub: code.sub, username: code.username, scope: code.scopes.join(' '), grant_id: code.grantId, jti: accessToken.jti,
  });
  return { accessToken: accessToken.token, expiresIn: accessToken.expiresIn, scopes: code.scopes, ...(refreshToken ? { refreshToken } : {}) };
}

/** Why the claim failed; a replay is handled (once) before the refusal is returned. */
async function refusal(deps: Deps, input: RedeemCodeInput, codeHash: string, codeChallenge: string | null, now: Date): Promise<OAuthError> {
  const code = await deps.store.findCode(codeHash);
  if (!code) return invalidGrant('unknown code');
  // Another client's code is refused without touching it: the code stays usable by its client.
  if (code.clientId !== input.client._id) return invalidGrant('code issued to another client');
  if (code.consumedAt !== null) {
    await handleReplay(deps, input.client, code, now);
    return invalidGrant('code already used (replay)');
  }
  if (code.expiresAt <= now) return invalidGrant('code expired');
  // RFC 6749 §4.1.3: redirect_uri is required when the authorization request included it, and must be identical.
  if (input.redirectUri === undefined) {
    if (code.redirectUriSent) return invalidGrant('redirect_uri missing; the authorization request included it');
  } else if (input.redirectUri !== code.redirectUri) {
    return invalidGrant('redirect_uri does not match the authorization request');
  }
  if (code.codeChallenge === null) return invalidGrant('code_verifier sent for a code issued without a code_challenge (PKCE downgrade)');
  if (codeChallenge === null) return invalidGrant('code_verifier missing');
  if (codeChallenge !== code.codeChallenge) return invalidGrant('code_verifier does not match the code_challenge');
  return invalidGrant('code could not be claimed');
}

/**
 * Revokes everything the code produced: the refresh token family (stored revoked if the winning
 * redemption has not stored it yet) and, through a grant revocation, every access token of the
 * grant. Only the first request to see the replay does it, so a burst of replays is one event.
 */
async function handleReplay(deps: Deps, client: ClientDoc, code: AuthorizationCode, now: Date): Promise<void> {
  if (!(await deps.store.claimCodeReplay(code.codeHash, code.expiresAt, now))) return;
  const blocked: RefreshTokenFamily = {
    grantId: code.grantId,
    clientId: code.clientId,
    sub: code.sub,
    username: code.username,
    scopes: code.scopes,
    authTime: code.authTime,
    accessTokenTtlSeconds: client.accessTokenTtlSeconds,
    createdAt: now,
    // As long as any refresh token the winning redemption issued could live.
    expiresAt: addSeconds(now, client.refreshTokenTtlSeconds),
    revokedAt: now,
  };
  await deps.store.revokeOrBlockFamily(blocked, now);
  await recordGrantRevocation(deps.recordRevocation, code.grantId, client.accessTokenTtlSeconds, now, clientGetsRefreshTokens(client) ? blocked.expiresAt : undefined);
  deps.audit.emit('oauth.code.replayed', client._id, {
    client_id: client._id, sub: code.sub, username: code.username, scope: code.scopes.join(' '), grant_id: code.grantId, reason: 'authorization code presented again',
  });
}
