// grant_type=authorization_code (RFC 6749 §4.1.3, RFC 7636 §4.6). The code is sealed
// (shared/grants/authorization-codes.ts): it is opened and its client, expiry, redirect URI and PKCE
// binding checked without a read, so a request that fails a check consumes nothing; then it is
// claimed by one unique insert, the insert of its grant's family, so it is redeemed at most once
// (a code of the earlier kind is claimed by `code:<grant id>` first, as its release did). Any other
// presentation of a consumed code (the losers of a concurrent race included) is a replay: the
// grant it started is revoked (RFC 6749 §4.1.2), once, and the request refused.
import { addSeconds } from '#shared/clock.ts';
import { safeEqual, sha256 } from '#shared/crypto.ts';
import type { AuthorizationCodePayload, AuthorizationCodes, CodeClaim } from '#shared/grants/authorization-codes.ts';
import { OAuthError } from '#shared/oauth-error.ts';
import { clientGetsRefreshTokens, type ClientDoc } from '#shared/reference-data/clients.ts';
import { issueAccessToken, type TokenResult } from './issue-access-token.ts';
import { revocableGrant } from '#shared/grants/refresh-tokens.ts';
import { firstRefreshToken } from './rotate-refresh-token.ts';
import { grantParameter } from './grant-request.ts';
import { selectResources } from './select-resources.ts';
import { recordGrantRevocation, type FamilyGrantDeps } from './revoke-grant.ts';
import { CLAIM_MARGIN_SECONDS, type RefreshTokenFamily, type TokenStore } from './store.ts';

export type Deps = FamilyGrantDeps & {
  store: Pick<TokenStore, 'claimCode' | 'createFamily' | 'codeConsumed' | 'claimCodeReplay' | 'revokeOrBlockFamily' | 'familyExpiresAt'>;
  codes: AuthorizationCodes;
  log?: { info(obj: object, msg: string): void };
};

export type RedeemCodeInput = {
  client: ClientDoc;
  code: string | undefined;
  redirectUri: string | undefined;
  codeVerifier: string | undefined;
  /** The DPoP key of the request's proof (check-token-request-proof.ts), when it sent one. */
  jkt?: string;
  /** RFC 8707 `resource` parameters as sent: within those the authorization named. */
  resources?: string[];
};

/** RFC 7636 §4.1: code-verifier = 43*128unreserved. */
const CODE_VERIFIER = /^[A-Za-z0-9\-._~]{43,128}$/;

const invalidGrant = (detail: string) =>
  new OAuthError('invalid_grant', 'The authorization code is invalid, expired, already used, or was issued to another client or redirect URI.', detail);

export async function redeemCode(deps: Deps, input: RedeemCodeInput): Promise<TokenResult> {
  const { client } = input;
  const sealedCode = grantParameter(client, 'authorization_code', input.code, 'code');
  if (input.codeVerifier !== undefined && !CODE_VERIFIER.test(input.codeVerifier)) throw invalidGrant('malformed code_verifier');
  // RFC 9700 §2.1.1: public clients must use PKCE.
  if (client.type === 'public' && input.codeVerifier === undefined) throw invalidGrant('public client sent no code_verifier');

  const opened = deps.codes.open(sealedCode);
  if (!opened) throw invalidGrant('unknown code');
  const { payload: code, expiresAt: codeExpiresAt, claim } = opened;
  // Another client's code is refused without touching it: the code stays usable by its client.
  if (code.clientId !== client._id) throw invalidGrant('code issued to another client');
  const now = deps.clock.now();
  const problem = bindingProblem(code, codeExpiresAt, input, now);
  if (problem) {
    // A request that fails a check consumes nothing, but a used code presented again is a replay however it is presented.
    if (await deps.store.codeConsumed(code.grantId)) {
      await handleReplay(deps, client, code, codeExpiresAt, now);
      throw invalidGrant('code already used (replay)');
    }
    throw invalidGrant(problem);
  }
  // The owner may have withdrawn consent (or the grant been revoked) since approving.
  if (deps.revocations.isRevoked(revocableGrant(code.grantId, code.sub, client._id, code.issuedAt))) {
    throw invalidGrant('consent withdrawn since the approval');
  }
  // Checked before the claim: a refused resource leaves the code usable.
  const target = await selectResources(deps, input.resources, code.resources, code.scopes);

  let refreshToken: string | undefined;
  const getsRefreshTokens = clientGetsRefreshTokens(client);
  const refreshExpiresAt = addSeconds(now, getsRefreshTokens ? client.refreshTokenTtlSeconds : 0);
  if (getsRefreshTokens) {
    refreshToken = firstRefreshToken(deps.refreshTokens, {
      grantId: code.grantId, clientId: client._id, sub: code.sub, username: code.username, scopes: code.scopes,
      authTime: code.authTime, grantStartedAtMs: code.issuedAt, ...(code.resources ? { resources: code.resources } : {}),
      // RFC 9449 §5: a public client's refresh token is bound to the key; a confidential client's is not (it authenticates).
      ...(client.type === 'public' && input.jkt !== undefined ? { jkt: input.jkt } : {}),
    }, refreshExpiresAt);
  }
  // The family is the code's claim, so it is stored whatever the client's settings (which an
  // administrator may change while a code is out): closed at once, as only the claim, when it gets
  // no refresh token.
  const family = familyOf(client, code, now, outlivingTheCode(refreshExpiresAt, codeExpiresAt), getsRefreshTokens ? null : now);
  // Of concurrent redemptions exactly one claim lands; every other presentation is a replay.
  if (!(await claimByKind(deps, claim, family, codeExpiresAt, now))) {
    await handleReplay(deps, client, code, codeExpiresAt, now);
    throw invalidGrant('code already used (replay)');
  }

  const accessToken = issueAccessToken(deps.tokens, {
    sub: code.sub, clientId: client._id, scopes: target.scopes, authTime: new Date(code.authTime * 1000), grantId: code.grantId,
    grantStartedAtMs: code.issuedAt, ttlSeconds: client.accessTokenTtlSeconds, jkt: input.jkt, ...(target.audience ? { audience: target.audience } : {}),
  }, now);
  await deps.audit.emit('oauth.token.issued', client._id, {
    client_id: client._id, sub: code.sub, username: code.username, scope: target.scopes.join(' '), grant_id: code.grantId, jti: accessToken.jti,
    ...(target.audience ? { resource: target.audience } : {}),
  });
  return {
    accessToken: accessToken.token, expiresIn: accessToken.expiresIn, scopes: target.scopes,
    ...(refreshToken ? { refreshToken } : {}), ...(input.jkt !== undefined ? { jkt: input.jkt } : {}),
  };
}

/**
 * The family a presentation of `code` stores: at redemption (its claim), or as a replay's block.
 * Where the client gets no refresh token it is only the code's claim (`claimOnly`).
 */
function familyOf(client: ClientDoc, code: AuthorizationCodePayload, now: Date, expiresAt: Date, revokedAt: Date | null): RefreshTokenFamily {
  return {
    grantId: code.grantId, clientId: client._id, sub: code.sub, username: code.username, scopes: code.scopes, authTime: new Date(code.authTime * 1000),
    accessTokenTtlSeconds: client.accessTokenTtlSeconds, createdAt: now, expiresAt, revokedAt,
    ...(clientGetsRefreshTokens(client) ? {} : { claimOnly: true as const }),
  };
}

/**
 * When a family stored for a code (at redemption, or as a replay's block) may go: when its refresh
 * tokens expire, but never before a claim of the code would (a day past the code's expiry), so no
 * presentation of the code finds its claim gone. Refresh tokens can live 300 s, a code 600 s.
 */
function outlivingTheCode(refreshExpiresAt: Date, codeExpiresAt: Date): Date {
  const claimUntil = addSeconds(codeExpiresAt, CLAIM_MARGIN_SECONDS);
  return refreshExpiresAt > claimUntil ? refreshExpiresAt : claimUntil;
}

/**
 * The code's claim: the insert of its family, true for exactly one presentation. A code of the
 * earlier kind is claimed by `code:<grant id>` first, as its release did, so that it contends with
 * an earlier token-service presented the same code during an upgrade; its family is then found
 * blocked only when a replay got there first.
 */
async function claimByKind(deps: Deps, claim: CodeClaim, family: RefreshTokenFamily, codeExpiresAt: Date, now: Date): Promise<boolean> {
  if (claim === 'code-then-family' && !(await deps.store.claimCode(family.grantId, codeExpiresAt, now))) return false;
  return deps.store.createFamily(family);
}

/** Why the token request may not redeem this code (RFC 6749 §4.1.3, RFC 7636 §4.6), or undefined. */
function bindingProblem(code: AuthorizationCodePayload, expiresAt: Date, input: RedeemCodeInput, now: Date): string | undefined {
  if (expiresAt <= now) return 'code expired';
  // RFC 6749 §4.1.3: redirect_uri is required when the authorization request included it, and must be identical.
  if (input.redirectUri === undefined) {
    if (code.redirectUriSent) return 'redirect_uri missing; the authorization request included it';
  } else if (input.redirectUri !== code.redirectUri) {
    return 'redirect_uri does not match the authorization request';
  }
  if (input.codeVerifier === undefined) return code.codeChallenge === null ? undefined : 'code_verifier missing';
  if (code.codeChallenge === null) return 'code_verifier sent for a code issued without a code_challenge (PKCE downgrade)';
  // RFC 7636 §4.6: BASE64URL(SHA256(ASCII(code_verifier))) == code_challenge; sha256() is base64url.
  return safeEqual(sha256(input.codeVerifier), code.codeChallenge) ? undefined : 'code_verifier does not match the code_challenge';
}

/**
 * Revokes everything the code produced: the refresh token family (stored revoked if the winning
 * redemption has not stored it yet) and, through a grant revocation, every access token and
 * refresh token of the grant. Only the first request to see the replay does it, so a burst of
 * replays is one event.
 */
async function handleReplay(deps: Deps, client: ClientDoc, code: AuthorizationCodePayload, codeExpiresAt: Date, now: Date): Promise<void> {
  // Reported once, first: a replay is a fact even if revoking is cut short. Every replay revokes
  // (idempotent), so a revocation cut short by a failure is completed by the next one.
  if (await deps.store.claimCodeReplay(code.grantId, codeExpiresAt, now)) {
    await deps.audit.emit('oauth.code.replayed', client._id, {
      client_id: client._id, sub: code.sub, username: code.username, scope: code.scopes.join(' '), grant_id: code.grantId, reason: 'authorization code presented again',
    });
  }
  // As long as any refresh token the winning redemption issued could live, and the code's claim.
  const blocked = familyOf(client, code, now, outlivingTheCode(addSeconds(now, client.refreshTokenTtlSeconds), codeExpiresAt), now);
  // As long as the stored family lives, when there is one (the client's settings may have changed
  // since), else as long as one stored now would.
  const stored = await deps.store.familyExpiresAt(code.grantId);
  await deps.store.revokeOrBlockFamily(blocked, now);
  const familyExpiresAt = stored ?? (clientGetsRefreshTokens(client) ? blocked.expiresAt : undefined);
  await recordGrantRevocation(deps.recordRevocation, code.grantId, client.accessTokenTtlSeconds, now, familyExpiresAt);
}
