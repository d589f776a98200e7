// Access tokens: JWTs per RFC 9068, signed with the key ring's current ES256 key.
//
// Signed with node:crypto rather than jose's SignJWT: jose signs through WebCrypto, which cost
// 101–116 µs per token here against 27–30 µs (docs/performance.md); a JWS compact serialization is
// two base64url parts and the signature (RFC 7515 §7.1), and jose still verifies every token.
import type { KeyObject } from 'node:crypto';
import { jwtVerify, type JWTPayload } from 'jose';
import type { Audit } from '#shared/audit/publish-audit-event.ts';
import { epochSeconds, type Clock } from '#shared/clock.ts';
import { randomToken } from '#shared/crypto.ts';
import { SIGNING_ALG } from '#shared/keys/signing-keys.ts';
import type { SigningKeySource, VerificationKeySource } from './signing-keys.ts';
import { signEs256 } from './es256-signature.ts';

/** RFC 9068 §2.1: the `typ` header of a JWT access token. */
export const ACCESS_TOKEN_TYP = 'at+jwt';

export type AccessTokenDeps = {
  keys: SigningKeySource;
  issuer: string;
  audience: string;
};

/** What every grant needs to issue an access token and audit it. */
export type IssuanceDeps = { clock: Clock; audit: Audit; tokens: AccessTokenDeps };

export type AccessTokenGrant = {
  sub: string;
  clientId: string;
  scopes: string[];
  /** The owner's sign-in; absent for the client credentials grant (no resource owner, RFC 6749 §4.4). */
  authTime?: Date;
  /** Absent for client credentials: no grant is stored, the client's cut-offs end its tokens by `iat`. */
  grantId?: string;
  /** When the owner approved the grant (epoch ms): what an owner's later withdrawal is compared with. Both grants set it. */
  grantStartedAtMs?: number;
  ttlSeconds: number;
  /** The DPoP key thumbprint the token is bound to (RFC 9449 §6.1), when the request carried a proof. */
  jkt?: string;
  /** RFC 8707: the resource servers the token is for, as its `aud`; absent for the configured audience. */
  audience?: string[];
};

export type IssuedAccessToken = { token: string; jti: string; expiresIn: number };

export type AccessTokenClaims = JWTPayload & {
  iss: string; sub: string; aud: string | string[]; client_id: string; scope: string;
  exp: number; iat: number; jti: string; auth_time?: number; gid?: string; grant_start_ms?: number; cnf?: { jkt: string };
};

export function issueAccessToken(deps: AccessTokenDeps, grant: AccessTokenGrant, now: Date): IssuedAccessToken {
  const { kid, privateKey } = deps.keys.signingKey();
  const iat = epochSeconds(now);
  const jti = randomToken(16);
  const claims: AccessTokenClaims = {
    iss: deps.issuer,
    sub: grant.sub,
    aud: audienceClaim(grant.audience) ?? deps.audience,
    client_id: grant.clientId,
    scope: grant.scopes.join(' '),
    iat,
    exp: iat + grant.ttlSeconds,
    jti,
    ...(grant.authTime !== undefined ? { auth_time: epochSeconds(grant.authTime) } : {}),
    ...(grant.grantId !== undefined ? { gid: grant.grantId } : {}),
    // A token minted after its owner withdrew consent, from a grant approved before (a code redeemed
    // while the withdrawal's broadcast is on its way), is still covered by that withdrawal.
    ...(grant.grantStartedAtMs !== undefined ? { grant_start_ms: grant.grantStartedAtMs } : {}),
    ...(grant.jkt !== undefined ? { cnf: { jkt: grant.jkt } } : {}),
  };
  const token = signCompactJws({ alg: SIGNING_ALG, typ: ACCESS_TOKEN_TYP, kid }, claims, privateKey);
  return { token, jti, expiresIn: grant.ttlSeconds };
}

const base64urlJson = (value: object): string => Buffer.from(JSON.stringify(value)).toString('base64url');

/** RFC 7515 §7.1 with ES256 (RFC 7518 §3.4). */
function signCompactJws(header: { alg: typeof SIGNING_ALG; typ: string; kid: string }, claims: AccessTokenClaims, key: KeyObject): string {
  const signingInput = `${base64urlJson(header)}.${base64urlJson(claims)}`;
  return `${signingInput}.${signEs256(Buffer.from(signingInput), key).toString('base64url')}`;
}

/** RFC 7519 §4.1.3: one audience as a string, several as an array. */
const audienceClaim = (audience: string[] | undefined): string | string[] | undefined =>
  !audience?.length ? undefined : audience.length === 1 ? audience[0] : audience;

/**
 * One of our own unexpired access tokens, verified (signature with a published key, issuer,
 * `typ`), or undefined for anything else: revocation treats a token it does not recognise as
 * unknown (RFC 7009 §2.2).
 */
export async function verifyOwnAccessToken(
  deps: { keys: VerificationKeySource; issuer: string }, token: string, now: Date,
): Promise<AccessTokenClaims | undefined> {
  try {
    const { payload } = await jwtVerify(token, deps.keys.verificationKey, {
      issuer: deps.issuer,
      typ: ACCESS_TOKEN_TYP,
      algorithms: [SIGNING_ALG],
      currentDate: now,
      requiredClaims: ['sub', 'client_id', 'jti', 'exp', 'iat'],
    });
    if (typeof payload.client_id !== 'string' || typeof payload.jti !== 'string') return undefined;
    return payload as AccessTokenClaims;
  } catch {
    // Bad signature, unknown kid, expired, another issuer, not a JWT: not one of ours to revoke.
    return undefined;
  }
}

/** What a successful token request returns (mapped to RFC 6749 §5.1 in http.ts). */
export type TokenResult = {
  accessToken: string; expiresIn: number; scopes: string[]; refreshToken?: string;
  /** The key the access token is bound to: token_type DPoP (RFC 9449 §5). */
  jkt?: string;
};
