// grant_type=refresh_token (RFC 6749 §6, RFC 9700 §4.14.2). Refresh tokens are sealed
// (shared/grants/refresh-tokens.ts) and rotate on every use: spending one is the unique insert of its
// claim, so of concurrent refreshes with one token exactly one wins, and the winner gets the
// grant's next token. Any other presentation of a spent token (the losers of that race, or a
// later reuse) is reuse: the whole grant is revoked, with every access token of it, unless it is
// the client's one refresh grace (refresh-grace.ts). Nothing is read on the usual path: revocation
// is answered by the in-memory RevocationSet.
import { OAuthError } from '#shared/oauth-error.ts';
import type { ClientDoc } from '#shared/reference-data/clients.ts';
import { revocableRefreshToken, type RefreshTokenPayload, type RefreshTokens } from '#shared/grants/refresh-tokens.ts';
import { grantParameter, parseRequestedScope } from './grant-request.ts';
import { selectResources } from './select-resources.ts';
import { issueAccessToken, type TokenResult } from './issue-access-token.ts';
import { completeGrantRevocation, type FamilyGrantDeps } from './revoke-grant.ts';
import { useRefreshGrace } from './refresh-grace.ts';
import type { TokenStore } from './store.ts';

export type Deps = FamilyGrantDeps & {
  store: Pick<TokenStore, 'spendRefreshToken' | 'claimFamilyRevocation' | 'markFamilyRevoked' | 'refreshTokenSpentAt' | 'refreshGraceUsed' | 'claimRefreshGrace'>;
};

export type RotateRefreshTokenInput = {
  client: ClientDoc;
  refreshToken: string | undefined;
  /** The `scope` parameter as sent: a narrower access token scope, never beyond the grant. */
  scope: string | undefined;
  /** The DPoP key of the request's proof (check-token-request-proof.ts), when it sent one. */
  jkt?: string;
  /** RFC 8707 `resource` parameters as sent: within those the grant was authorized for. */
  resources?: string[];
};

const invalidGrant = (detail: string) =>
  new OAuthError('invalid_grant', 'The refresh token is invalid, expired, revoked, or was issued to another client.', detail);

const invalidScope = (detail: string) =>
  new OAuthError('invalid_scope', 'The requested scope exceeds the scope originally granted.', detail);

export async function rotateRefreshToken(deps: Deps, input: RotateRefreshTokenInput): Promise<TokenResult> {
  const { client } = input;
  const refreshToken = grantParameter(client, 'refresh_token', input.refreshToken, 'refresh_token');
  const requested = parseRequestedScope(input.scope);
  const opened = deps.refreshTokens.open(refreshToken);
  if (!opened) throw invalidGrant('not a refresh token issued here');
  const { payload: grant, expiresAt } = opened;
  const now = deps.clock.now();
  if (expiresAt <= now) throw invalidGrant('refresh token expired');
  // Another client's token is refused without spending it: the owner's grant is left alone.
  if (grant.clientId !== client._id) throw invalidGrant('refresh token issued to another client');
  if (deps.revocations.isRevoked(revocableRefreshToken(opened))) throw invalidGrant('refresh token family revoked');
  // RFC 9449 §5: a bound refresh token needs a proof by its key; refused before it is spent, so a
  // thief without the key cannot use it, nor end its owner's grant by presenting it here. (At
  // /revoke it can end the grant: RFC 7009 asks for no proof and clients send none; SECURITY.md.)
  if (grant.jkt !== undefined && input.jkt !== grant.jkt) {
    throw new OAuthError('invalid_dpop_proof', 'The DPoP proof is missing, invalid, or already used.', 'refresh token bound to another DPoP key');
  }
  // RFC 6749 §6: the scope must not include any scope not originally granted. Checked before the
  // token is spent, so a refused scope leaves the refresh token usable.
  if (requested && requested.some((s) => !grant.scopes.includes(s) || !client.scopes.includes(s))) {
    throw invalidScope('scope beyond the original grant');
  }
  // Without `scope`, the whole original grant (still within what the client may have); then cut to
  // what the resources accept. Checked before the token is spent, like the scope.
  const target = await selectResources(deps, input.resources, grant.resources, requested ?? grant.scopes.filter((s) => client.scopes.includes(s)));

  // Of every request presenting this token exactly one spends it. The others (the losers of a
  // concurrent race, or a later reuse) presented a token that is rotated out: reuse, except the
  // one grace of a client that has one (the same successor generation again, refresh-grace.ts).
  const spent = await spendOrSayUnconfirmed(deps, client, grant, expiresAt, now);
  if (!spent && !(await useRefreshGrace(deps, client, grant, expiresAt, now))) {
    await revokeReusedGrant(deps, client, grant, expiresAt, now);
    throw invalidGrant('rotated refresh token reused; family revoked');
  }
  const next = deps.refreshTokens.seal({ ...grant, generation: grant.generation + 1 }, expiresAt);
  const scopes = target.scopes;
  const accessToken = issueAccessToken(deps.tokens, {
    sub: grant.sub, clientId: client._id, scopes, authTime: new Date(grant.authTime * 1000), grantId: grant.grantId,
    grantStartedAtMs: grant.grantStartedAtMs, ttlSeconds: client.accessTokenTtlSeconds, jkt: input.jkt,
    ...(target.audience ? { audience: target.audience } : {}),
  }, now);
  await deps.audit.emit(spent ? 'oauth.token.refreshed' : 'oauth.refresh_token.grace_used', client._id, {
    client_id: client._id, sub: grant.sub, username: grant.username, scope: scopes.join(' '), grant_id: grant.grantId, jti: accessToken.jti,
    ...(target.audience ? { resource: target.audience } : {}),
    ...(spent ? {} : { reason: 'rotated refresh token presented again within the client refresh grace' }),
  });
  const bound = input.jkt !== undefined ? { jkt: input.jkt } : {};
  return { accessToken: accessToken.token, expiresIn: accessToken.expiresIn, scopes, refreshToken: next, ...bound };
}

async function revokeReusedGrant(deps: Deps, client: ClientDoc, grant: RefreshTokenPayload, familyExpiresAt: Date, now: Date): Promise<void> {
  // The claim decides, durably, that the grant is revoked, and who reports it (a burst of reuses is
  // one event), reported at once. Whatever fails after it, the revocation is completed from the
  // note taken with the claim: by the next presentation, or within a minute (complete-revocations.ts).
  if (await deps.store.claimFamilyRevocation(grant.grantId, familyExpiresAt, now)) {
    await deps.audit.emit('oauth.refresh_token.reused', client._id, {
      client_id: client._id, sub: grant.sub, username: grant.username, scope: grant.scopes.join(' '), grant_id: grant.grantId,
      reason: 'rotated refresh token presented again',
    });
  }
  await completeGrantRevocation(deps, grant.grantId, client.accessTokenTtlSeconds, now, familyExpiresAt);
}

/**
 * Spends the token by its claim. When the database's answer is lost, the claim may have landed:
 * the client is told so (a retry with the same token may be refused as reuse and end the grant),
 * and the audit trail records the unconfirmed spending before any reuse that follows it.
 */
async function spendOrSayUnconfirmed(deps: Deps, client: ClientDoc, grant: RefreshTokenPayload, familyExpiresAt: Date, now: Date): Promise<boolean> {
  try {
    return await deps.store.spendRefreshToken(grant, familyExpiresAt, now);
  } catch (error) {
    await deps.audit.emit('oauth.refresh_token.spend_unconfirmed', client._id, {
      client_id: client._id, sub: grant.sub, username: grant.username, grant_id: grant.grantId, reason: 'database answer lost while spending the refresh token',
    });
    throw new OAuthError('temporarily_unavailable', SPEND_UNCONFIRMED, `refresh token spend unconfirmed: ${(error as Error).message}`);
  }
}

/** Honest about what the client holds: the token may already be spent. */
export const SPEND_UNCONFIRMED = 'The service is temporarily unavailable; the refresh token may already have been used, so a retry may be refused.';

/** The first refresh token of a grant (the code exchange); `ia` is when the owner approved it. */
export function firstRefreshToken(refreshTokens: RefreshTokens, grant: Omit<RefreshTokenPayload, 'generation'>, expiresAt: Date): string {
  return refreshTokens.seal({ ...grant, generation: 0 }, expiresAt);
}
