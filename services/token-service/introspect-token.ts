// RFC 7662 token introspection. Access tokens (JWTs) are checked exactly as oauth.token.validate
// checks them (shared/access-tokens/verify-access-token.ts, the same verifier validation-service
// uses). Refresh tokens are sealed (shared/grants/refresh-tokens.ts): opened, checked against the
// revocation set, and looked up once for the claim that would mark them spent (introspection is
// not the validate hot path, so one read is acceptable). Anything else is inactive, and an
// inactive answer says nothing more (§2.2).
import type { Clock } from '#shared/clock.ts';
import { OAuthError } from '#shared/oauth-error.ts';
import type { ClientDoc } from '#shared/reference-data/clients.ts';
import type { CachedUser } from '#shared/reference-data/reference-cache.ts';
import { clientAuthFailed, type ClientAuthMethod } from '#shared/client-auth/authenticate-client.ts';
import { MAX_SEALED_LENGTH } from '#shared/grants/sealed-state.ts';
import { hasResourceOwner, verifyAccessToken, type AccessToken, type Deps as VerifyDeps } from '#shared/access-tokens/verify-access-token.ts';
import { revocableRefreshToken, type RefreshTokens } from '#shared/grants/refresh-tokens.ts';
import type { TokenStore } from './store.ts';

export type Deps = VerifyDeps & {
  clock: Clock;
  user(sub: string): CachedUser | undefined;
  findUser(sub: string): Promise<CachedUser | undefined>;
  refreshTokens: RefreshTokens;
  store: Pick<TokenStore, 'refreshTokenSpent'>;
};

export type IntrospectTokenInput = {
  /** The authenticated caller, and how it authenticated. */
  client: ClientDoc;
  method: ClientAuthMethod;
  token: string | undefined;
};

export type Introspection =
  | { active: false }
  | { active: true; tokenType: 'access_token'; token: AccessToken; username: string | undefined }
  | {
    active: true; tokenType: 'refresh_token';
    clientId: string; sub: string; username: string | undefined; scope: string; exp: number; iat: number | undefined;
  };

const INACTIVE = { active: false } as const;
const JWT_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;
/** Longer than any token this server issues (a sealed refresh token's ceiling): such a value is simply not an active token. */
const MAX_TOKEN_LENGTH = MAX_SEALED_LENGTH;

/**
 * Any confidential client may introspect an access token (resource servers do so for tokens
 * issued to others); a refresh token is reported active only to the client it was issued to,
 * since no one else has a reason to hold it.
 */
export async function introspectToken(deps: Deps, input: IntrospectTokenInput): Promise<Introspection> {
  // RFC 7662 §2.1: the caller must authenticate; a public client (no secret) cannot.
  if (input.method === 'none') throw clientAuthFailed('public clients may not introspect');
  const { token } = input;
  if (token === undefined) throw new OAuthError('invalid_request', 'The token parameter is missing.');
  if (token.length > MAX_TOKEN_LENGTH) return INACTIVE;
  // The token's shape tells its type, so token_type_hint is not needed (RFC 7662 §2.1 lets the server ignore it).
  if (JWT_SHAPE.test(token)) {
    const accessToken = await verifyAccessToken(deps, token);
    if (!accessToken) return INACTIVE;
    const user = hasResourceOwner(accessToken) ? deps.user(accessToken.sub) ?? (await deps.findUser(accessToken.sub)) : undefined;
    return { active: true, tokenType: 'access_token', token: accessToken, username: user?.username };
  }
  return introspectRefreshToken(deps, input.client, token);
}

async function introspectRefreshToken(deps: Deps, caller: ClientDoc, token: string): Promise<Introspection> {
  const opened = deps.refreshTokens.open(token);
  const now = deps.clock.now();
  // Only the client's own, unexpired, unrevoked token that was not rotated out (RFC 6749 §10.4).
  if (!opened || opened.expiresAt <= now || opened.payload.clientId !== caller._id) return INACTIVE;
  if (deps.revocations.isRevoked(revocableRefreshToken(opened))) return INACTIVE;
  const { payload: grant } = opened;
  if (await deps.store.refreshTokenSpent(grant)) return INACTIVE;
  const user = deps.user(grant.sub) ?? (await deps.findUser(grant.sub));
  return {
    active: true,
    tokenType: 'refresh_token',
    clientId: grant.clientId,
    sub: grant.sub,
    username: grant.username || user?.username,
    scope: grant.scopes.join(' '),
    exp: Math.floor(opened.expiresAt.getTime() / 1000),
    iat: Math.floor(grant.grantStartedAtMs / 1000),
  };
}
