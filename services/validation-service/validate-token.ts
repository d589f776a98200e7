// oauth.token.validate: is the token active (genuine, unexpired, not revoked), and is the caller
// allowed: the token meant for the asking audience (when named), every requested scope granted and, for a resource, a rule covering it that lists a
// granted scope and admits the resource owner's groups. Answered from memory on the hot path.
import type { CachedUser } from '#shared/reference-data/reference-cache.ts';
import type { ResourceDoc } from '#shared/reference-data/resources.ts';
import { hasResourceOwner, verifyAccessToken, type AccessToken, type Deps as VerifyDeps } from '#shared/access-tokens/verify-access-token.ts';
import { verifyDpopProof, type DpopProofDeps } from '#shared/dpop/verify-dpop-proof.ts';

export type Deps = VerifyDeps & {
  /** The cached user, without I/O. */
  user(sub: string): CachedUser | undefined;
  /** The user from the cache or, on a miss, the database. */
  findUser(sub: string): Promise<CachedUser | undefined>;
  findResourceRule(resource: string): Promise<ResourceDoc | undefined>;
  /** DPoP proofs (RFC 9449): the clock and the replay store shared by every instance. */
  dpop: DpopProofDeps;
};

export type ValidationInput = {
  token: string; scopes?: readonly string[]; resource?: string; audience?: string;
  /** The DPoP proof sent with the token, and the method and URL of the request it came with. */
  dpop?: string; method?: string; url?: string;
};

export type Validation =
  | { active: false; error?: 'invalid_token' | 'invalid_dpop_proof' }
  | { active: true; allowed: true; token: AccessToken; user: CachedUser | undefined }
  | { active: true; allowed: false; error: 'invalid_token' | 'insufficient_scope' | 'access_denied'; token: AccessToken; user: CachedUser | undefined };

export async function validateToken(deps: Deps, input: ValidationInput): Promise<Validation> {
  const token = await verifyAccessToken(deps, input.token);
  if (!token) return { active: false };
  if (token.jkt !== undefined) {
    const refused = await possessionProblem(deps, token, input);
    if (refused) return { active: false, error: refused };
  }
  // A client's own token (client credentials) has no owner: no lookup, and no group rule admits it.
  const user = hasResourceOwner(token) ? deps.user(token.sub) ?? (await deps.findUser(token.sub)) : undefined;
  const granted = { active: true, token, user } as const;

  // RFC 8707 §2 / RFC 9068 §4: a token meant for other resource servers is no token for this one.
  if (input.audience !== undefined && !audiences(token.aud).includes(input.audience)) return { ...granted, allowed: false, error: 'invalid_token' };

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

/**
 * RFC 9449 §7.1: a DPoP-bound token is usable only with a proof, by the key it is bound to, for this
 * request and this token. Without one the presenter has shown nothing but the token (which may be
 * stolen): the reply is as for an inactive token, so a resource server that reads only `active`
 * refuses it too. A proof sent with a bearer token is ignored (and not used up).
 */
async function possessionProblem(deps: Deps, token: AccessToken, input: ValidationInput): Promise<'invalid_token' | 'invalid_dpop_proof' | undefined> {
  if (input.dpop === undefined) return 'invalid_token';
  if (input.method === undefined || input.url === undefined) return 'invalid_dpop_proof';
  const check = await verifyDpopProof(deps.dpop, { proof: input.dpop, method: input.method, url: input.url, accessToken: input.token, jkt: token.jkt });
  return check.valid ? undefined : 'invalid_dpop_proof';
}

const audiences = (aud: string | string[]): string[] => (Array.isArray(aud) ? aud : [aud]);
