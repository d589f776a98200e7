// RFC 7662 token introspection. Access tokens (JWTs) are checked exactly as oauth.token.validate
// checks them. Refresh tokens are opaque `<family id>.<secret>` strings: the family is read by
// id and the whole token compared by SHA-256 with the family's current token (introspection is
// not the validate hot path, so one read is acceptable). Anything else is inactive, and an
// inactive answer says nothing more (§2.2).
import type { Clock } from '#shared/clock.ts';
import { safeEqual, sha256 } from '#shared/crypto.ts';
import type { ClientDoc } from '#shared/reference-data/clients.ts';
import type { CachedUser } from '#shared/reference-data/reference-cache.ts';
import { verifyAccessToken, type AccessToken, type Deps as VerifyDeps } from './verify-access-token.ts';
import type { RefreshFamilyView } from './store.ts';

export type Deps = VerifyDeps & {
  clock: Clock;
  user(sub: string): CachedUser | undefined;
  findUser(sub: string): Promise<CachedUser | undefined>;
  findRefreshFamily(familyId: string, now: Date): Promise<RefreshFamilyView | null>;
};

export type Introspection =
  | { active: false }
  | { active: true; tokenType: 'access_token'; token: AccessToken; username: string | undefined }
  | { active: true; tokenType: 'refresh_token'; clientId: string; sub: string; username: string | undefined; scope: string; exp: number; iat: number | undefined };

const INACTIVE = { active: false } as const;
const JWT_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;
const FAMILY_ID = /^[A-Za-z0-9_-]{1,128}$/;

/**
 * `caller` is the authenticated client. Any client may introspect an access token (resource
 * servers do so for tokens issued to others); a refresh token is reported active only to the
 * client it was issued to, since no one else has a reason to hold it.
 */
export async function introspectToken(deps: Deps, caller: ClientDoc, token: string): Promise<Introspection> {
  // The token's shape tells its type, so token_type_hint is not needed (RFC 7662 §2.1 lets the server ignore it).
  if (JWT_SHAPE.test(token)) {
    const accessToken = await verifyAccessToken(deps, token);
    if (!accessToken) return INACTIVE;
    const user = deps.user(accessToken.sub) ?? (await deps.findUser(accessToken.sub));
    return { active: true, tokenType: 'access_token', token: accessToken, username: user?.username };
  }
  return introspectRefreshToken(deps, caller, token);
}

async function introspectRefreshToken(deps: Deps, caller: ClientDoc, token: string): Promise<Introspection> {
  const dot = token.indexOf('.');
  const familyId = dot > 0 ? token.slice(0, dot) : '';
  if (!FAMILY_ID.test(familyId)) return INACTIVE;
  const now = deps.clock.now();
  const family = await deps.findRefreshFamily(familyId, now);
  // Only the family's current token is live: a rotated-out one is not (RFC 6749 §10.4).
  // Fields token-service leaves unset are absent, not null: test for truthiness.
  if (!family || family.revokedAt || family.expiresAt <= now || !family.currentHash) return INACTIVE;
  if (!safeEqual(family.currentHash, sha256(token))) return INACTIVE;
  if (family.clientId !== caller._id) return INACTIVE;
  const user = deps.user(family.sub) ?? (await deps.findUser(family.sub));
  return {
    active: true,
    tokenType: 'refresh_token',
    clientId: family.clientId,
    sub: family.sub,
    username: family.username ?? user?.username,
    scope: family.scopes.join(' '),
    exp: Math.floor(family.expiresAt.getTime() / 1000),
    iat: family.createdAt ? Math.floor(family.createdAt.getTime() / 1000) : undefined,
  };
}
