// Is this access token genuine, unexpired and not revoked? Answered from memory: the signature
// is checked locally (jose, ES256 only) against cached public keys, the claims against RFC 9068,
// and revocation against the in-memory set. Used by oauth.token.validate and introspection.
import { jwtVerify, type JWTPayload, type JWTHeaderParameters, type CryptoKey } from 'jose';
import { SIGNING_ALG } from '#shared/keys/signing-keys.ts';
import { epochSeconds, type Clock } from '#shared/clock.ts';
import type { VerifiedTokenCache } from './verified-token-cache.ts';
import type { VerificationKeys } from './verification-keys.ts';
import type { RevocationSet } from '#shared/grants/revocation-set.ts';

/** The contract's leeway: a token is active until at most 5 s after its `exp`. */
export const EXP_LEEWAY_SECONDS = 5;

export type AccessToken = {
  kid: string;
  iss: string;
  sub: string;
  aud: string | string[];
  clientId: string;
  /** The scope claim as issued (space-separated, RFC 9068 §2.2.3). */
  scope: string;
  scopes: ReadonlySet<string>;
  exp: number;
  iat: number;
  jti: string;
  grantId: string | undefined;
  /**
   * When the token's grant began (epoch ms), when the token says so: an owner's or operator's
   * cut-off covers every token of a grant approved before it, whenever the token was minted.
   */
  iatMs: number | undefined;
  /** RFC 9449 §6.1: the thumbprint of the key a DPoP-bound token is bound to (`cnf.jkt`); undefined for a bearer token. */
  jkt: string | undefined;
};

export type Deps = {
  keys: Pick<VerificationKeys, 'current' | 'find'>;
  revocations: Pick<RevocationSet, 'isRevoked'>;
  /** Verified tokens by their string; absent or size 0 to verify every time. */
  cache: Pick<VerifiedTokenCache<AccessToken>, 'get' | 'set' | 'delete'> | undefined;
  clock: Clock;
  issuer: string;
  audience: string;
  /**
   * A registered resource server (RFC 8707), by URI: a token whose `aud` names resource servers
   * instead of `audience` is accepted when every one of them is registered. From the cache; a miss
   * waits for the load an announcement started (ReferenceCache.findResourceServer).
   */
  findResourceServer?(uri: string): Promise<unknown>;
};

// RFC 9068 §2.2: these claims are REQUIRED in a JWT access token.
const REQUIRED_CLAIMS = ['iss', 'exp', 'aud', 'sub', 'client_id', 'iat', 'jti'];

/** The verified token, or undefined when it is not active (forged, malformed, expired, retired key, revoked). */
export async function verifyAccessToken(deps: Deps, token: string): Promise<AccessToken | undefined> {
  const now = deps.clock.now();
  let verified = deps.cache?.get(token);
  if (verified === undefined) {
    verified = await verifySignature(deps, token, now);
    if (verified === undefined) return undefined;
    deps.cache?.set(token, verified);
  }
  // Checked on every call, cached or not: a resource server deleted since ends its tokens here. First,
  // as it may wait for a load: expiry, key and revocation are then judged at the time of the answer.
  const accepted = audienceAccepted(deps, verified.aud);
  if (accepted !== true && !(await accepted)) return undefined;
  if (verified.exp <= epochSeconds(accepted === true ? now : deps.clock.now()) - EXP_LEEWAY_SECONDS) {
    deps.cache?.delete(token);
    return undefined;
  }
  // A key retired since the token was verified no longer vouches for it.
  if (deps.keys.current(verified.kid) === undefined) return undefined;
  if (deps.revocations.isRevoked(verified)) return undefined;
  return verified;
}

/**
 * False for a token a client got for itself (client credentials: no grant, `sub` = client_id, as
 * RFC 9068 §2.2 asks): there is no resource owner to look up, and no username or groups to report.
 */
export const hasResourceOwner = (token: Pick<AccessToken, 'grantId' | 'sub' | 'clientId'>): boolean =>
  token.grantId !== undefined || token.sub !== token.clientId;

async function verifySignature(deps: Deps, token: string, now: Date): Promise<AccessToken | undefined> {
  let kid = '';
  const getKey = async (header: JWTHeaderParameters): Promise<CryptoKey> => {
    // RFC 8725 §3.1: the algorithm is the verifier's choice; `algorithms` below refuses any other
    // (including "none"), and a token without a kid matches no key.
    if (header.alg !== SIGNING_ALG || typeof header.kid !== 'string' || header.kid === '') throw new Error('no usable key');
    kid = header.kid;
    const key = deps.keys.current(kid) ?? (await deps.keys.find(kid));
    if (!key) throw new Error('unknown kid');
    return key;
  };
  let payload: JWTPayload;
  try {
    ({ payload } = await jwtVerify(token, getKey, {
      algorithms: [SIGNING_ALG],
      // RFC 9068 §4: the resource server MUST verify typ is "at+jwt" (jose accepts "application/at+jwt" too).
      typ: 'at+jwt',
      issuer: deps.issuer,
      requiredClaims: REQUIRED_CLAIMS,
      clockTolerance: EXP_LEEWAY_SECONDS,
      currentDate: now,
    }));
  } catch {
    return undefined;
  }
  return toAccessToken(kid, payload);
}

/** RFC 7519 §4.1.3: one string, or an array of them (not empty). */
const audiencesOf = (aud: unknown): string[] | undefined =>
  typeof aud === 'string' ? [aud] : Array.isArray(aud) && aud.length > 0 && aud.every((a) => typeof a === 'string') ? aud : undefined;

/**
 * RFC 9068 §4: the token must be meant for us: our audience (answered at once, the usual case), or
 * resource servers registered here.
 */
function audienceAccepted(deps: Pick<Deps, 'audience' | 'findResourceServer'>, aud: string | string[]): true | Promise<boolean> {
  const audiences = typeof aud === 'string' ? [aud] : aud;
  if (audiences.includes(deps.audience)) return true;
  const { findResourceServer } = deps;
  if (findResourceServer === undefined) return Promise.resolve(false);
  return Promise.all(audiences.map((a) => findResourceServer(a))).then((servers) => servers.every((server) => server !== undefined));
}

function toAccessToken(kid: string, payload: JWTPayload): AccessToken | undefined {
  const { iss, sub, aud, exp, iat, jti } = payload;
  const clientId = payload.client_id;
  const scope = payload.scope;
  const grantId = payload.gid;
  if (typeof iss !== 'string' || typeof sub !== 'string' || sub === '' || typeof clientId !== 'string' || clientId === '') return undefined;
  if (typeof jti !== 'string' || jti === '' || typeof scope !== 'string') return undefined;
  if (!Number.isInteger(exp) || !Number.isInteger(iat) || audiencesOf(aud) === undefined) return undefined;
  if (grantId !== undefined && typeof grantId !== 'string') return undefined;
  const jkt = boundKey(payload.cnf);
  // A confirmation this verifier cannot read must not turn a bound token into a bearer token.
  if (jkt === null) return undefined;
  const grantStartMs = payload.grant_start_ms;
  // A grant cannot begin after its token was issued; anything else is ignored (the token's iat counts).
  const iatMs = Number.isSafeInteger(grantStartMs) && (grantStartMs as number) < ((iat as number) + 1) * 1000 ? grantStartMs as number : undefined;
  return {
    kid, iss, sub, aud: aud as string | string[], clientId, scope,
    scopes: new Set(scope.split(' ').filter((s) => s !== '')),
    exp: exp as number,
    iat: iat as number,
    jti,
    grantId,
    iatMs,
    jkt,
  };
}

/** The `cnf.jkt` of a DPoP-bound token (a SHA-256 thumbprint, 43 base64url characters), undefined when unbound, null when unreadable. */
function boundKey(cnf: unknown): string | undefined | null {
  if (cnf === undefined) return undefined;
  const jkt = (cnf as { jkt?: unknown } | null)?.jkt;
  return typeof jkt === 'string' && /^[A-Za-z0-9_-]{43}$/.test(jkt) ? jkt : null;
}
