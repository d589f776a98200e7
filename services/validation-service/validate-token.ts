// oauth.token.validate: is the token active (genuine, unexpired, not revoked), and is the caller
// allowed: every requested scope granted and, for a resource, a rule covering it that lists a
// granted scope and admits the resource owner's groups. Answered from memory on the hot path.
import type { CachedUser } from '#shared/reference-data/reference-cache.ts';
import type { ResourceDoc } from '#shared/reference-data/resources.ts';
import { hasResourceOwner, verifyAccessToken, type AccessToken, type Deps as VerifyDeps } from '#shared/access-tokens/verify-access-token.ts';

export type Deps = VerifyDeps & {
  /** The cached user, without I/O. */
  user(sub: string): CachedUser | undefined;
  /** The user from the cache or, on a miss, the database. */
  findUser(sub: string): Promise<CachedUser | undefined>;
  findResourceRule(resource: string): Promise<ResourceDoc | undefined>;
};

export type ValidationInput = { token: string; scopes?: readonly string[]; resource?: string };

export type Validation =
  | { active: false }
  | { active: true; allowed: true; token: AccessToken; user: CachedUser | undefined }
  | { active: true; allowed: false; error: 'insufficient_scope' | 'access_denied'; token: AccessToken; user: CachedUser | undefined };

export async function validateToken(deps: Deps, input: ValidationInput): Promise<Validation> {
  const token = await verifyAccessToken(deps, input.token);
  if (!token) return { active: false };
  // A client's own token (client credentials) has no owner: no lookup, and no group rule admits it.
  const user = hasResourceOwner(token) ? deps.user(token.sub) ?? (await deps.findUser(token.sub)) : undefined;
  const granted = { active: true, token, user } as const;

  // RFC 6750 §3.1: a token lacking a required scope is insufficient_scope.
  if (input.scopes?.some((scope) => !token.scopes.has(scope))) return { ...granted, allowed: false, error: 'insufficient_scope' };

  if (input.resource !== undefined) {
    const rule = await deps.findResourceRule(input.resource);
    // Deny by default: a resource no rule covers is not reachable with any token.
    if (!rule || !rule.scopes.some((scope) => token.scopes.has(scope))) return { ...granted, allowed: false, error: 'access_denied' };
    if (rule.groups.length > 0 && !rule.groups.some((group) => user?.groups.includes(group))) {
      return { ...granted, allowed: false, error: 'access_denied' };
    }
  }
  return { ...granted, allowed: true };
}
