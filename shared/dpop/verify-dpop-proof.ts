// DPoP proofs (RFC 9449 §4.3): is this `DPoP` JWT a fresh, one-time proof of possession of the key
// in its header, made for this request (method, URL and, at a resource server, this access token)?
// Domain code: the one-time check (a replay store shared by every instance) is injected.
import { decodeProtectedHeader, type JWTPayload, type ProtectedHeaderParameters } from 'jose';
import { PROOF_SIGNING_ALGS, importProofKey, jwkThumbprint, verifyProofSignature } from './proof-signature.ts';
import { sha256 } from '#shared/crypto.ts';
import type { Clock } from '#shared/clock.ts';

/** RFC 9449 §4.2: the proof's `typ` header. */
export const DPOP_TYP = 'dpop+jwt';
/**
 * Asymmetric signatures only (§4.2: "MUST NOT be none or an identifier for a symmetric algorithm"),
 * each with the one key type it may use (proof-signature.ts); published as dpop_signing_alg_values_supported.
 */
export const DPOP_SIGNING_ALGS = PROOF_SIGNING_ALGS;
/** A proof is accepted at most this long after its `iat` (the contract's "iat within 60 s")… */
export const PROOF_MAX_AGE_SECONDS = 60;
/** …and at most this far ahead of our clock (client clock skew). */
export const PROOF_MAX_FUTURE_SECONDS = 5;
/**
 * How long a used proof must be remembered: longer than any proof stays acceptable
 * (PROOF_MAX_FUTURE_SECONDS + PROOF_MAX_AGE_SECONDS), with room for skew between our own instances.
 */
export const PROOF_REPLAY_WINDOW_SECONDS = 120;
/** Ceilings: a proof is one small JWS; anything larger is refused before it is decoded. */
export const MAX_PROOF_LENGTH = 8192;
/** An RSA-4096 public JWK header is about 1,100 characters encoded; a larger header is not a proof. */
export const MAX_PROOF_HEADER_LENGTH = 3072;
const MAX_JTI_LENGTH = 512;
const JWS_COMPACT = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;
/** JWK members that only a private or symmetric key has (RFC 7518 §6.2.2, §6.3.2, §6.4; RFC 8037 §2). */
const PRIVATE_JWK_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'];

export type DpopProofDeps = {
  clock: Clock;
  /**
   * Records a proof's id (proofReplayId) and says whether it was the first use, across every
   * instance, within PROOF_REPLAY_WINDOW_SECONDS. Throws when the replay store cannot answer.
   */
  firstUse(proofId: string): Promise<boolean>;
};

export type DpopProofInput = {
  proof: string;
  /** The HTTP method of the request the proof must be for (`htm`). */
  method: string;
  /** The request URL (`htu`), compared without query and fragment. */
  url: string;
  /** At a resource server: the access token presented with the proof (`ath`, §4.3 step 11). */
  accessToken?: string;
  /** The key the proof must be made with (the token's `cnf.jkt`). */
  jkt?: string;
};

/** The proof's key thumbprint (RFC 7638), or why the proof is refused (for logs, never for the client). */
export type DpopProofCheck = { valid: true; jkt: string } | { valid: false; reason: string };

const refused = (reason: string): DpopProofCheck => ({ valid: false, reason });

export async function verifyDpopProof(deps: DpopProofDeps, input: DpopProofInput): Promise<DpopProofCheck> {
  const header = readHeader(input.proof);
  if (typeof header === 'string') return refused(header);
  const jwk = header.jwk as Record<string, unknown>;
  // §4.3 step 6: an asymmetric algorithm (none and HMAC are not in the table) and a public key it may use.
  const key = importProofKey(header.alg!, jwk);
  if (!key) return refused('jwk is not a public key for the alg');
  const [encodedHeader, encodedPayload, signature] = input.proof.split('.') as [string, string, string];
  if (!verifyProofSignature(key, `${encodedHeader}.${encodedPayload}`, signature)) return refused('signature does not verify');
  const payload = readPayload(encodedPayload);
  if (!payload) return refused('payload is not a JSON object');
  const problem = claimsProblem(payload, input, deps.clock.now());
  if (problem) return refused(problem);
  const jkt = jwkThumbprint(key);
  if (input.jkt !== undefined && jkt !== input.jkt) return refused('proof made with another key than the token is bound to');
  // Last, so that only a proof that passes every other check uses up its jti (§11.1).
  if (!(await deps.firstUse(proofReplayId(jkt, payload.jti as string)))) return refused('jti already used (replay)');
  return { valid: true, jkt };
}

/** The protected header when it is a DPoP proof's (typ, asymmetric alg, public jwk), else why not. */
function readHeader(proof: string): ProtectedHeaderParameters | string {
  if (proof.length > MAX_PROOF_LENGTH || !JWS_COMPACT.test(proof)) return 'not a compact JWS within the size limit';
  if (proof.indexOf('.') > MAX_PROOF_HEADER_LENGTH) return 'header too large';
  let header: ProtectedHeaderParameters;
  try {
    header = decodeProtectedHeader(proof);
  } catch {
    return 'header is not JSON';
  }
  // §4.3 step 4: typ is exactly dpop+jwt (jose would also take "application/dpop+jwt").
  if (header.typ !== DPOP_TYP) return 'typ is not dpop+jwt';
  if (!DPOP_SIGNING_ALGS.includes(header.alg ?? '')) return 'alg not accepted';
  const jwk = header.jwk as Record<string, unknown> | undefined;
  if (typeof jwk !== 'object' || jwk === null || Array.isArray(jwk)) return 'no jwk';
  // §4.3 step 7: the jwk MUST NOT contain a private key.
  if (PRIVATE_JWK_MEMBERS.some((member) => member in jwk)) return 'jwk holds private key material';
  // RFC 7515 §4.1.11: no extension is understood here, so any `crit` makes the proof unacceptable.
  if (header.crit !== undefined) return 'crit header not understood';
  return header;
}

function readPayload(encoded: string): JWTPayload | undefined {
  try {
    const payload = JSON.parse(Buffer.from(encoded, 'base64url').toString('utf8')) as unknown;
    return typeof payload === 'object' && payload !== null && !Array.isArray(payload) ? payload as JWTPayload : undefined;
  } catch {
    return undefined;
  }
}

function claimsProblem(payload: JWTPayload, input: DpopProofInput, now: Date): string | undefined {
  const { jti, iat, htm, htu, ath } = payload;
  if (typeof jti !== 'string' || jti.length === 0 || jti.length > MAX_JTI_LENGTH) return 'jti missing or malformed';
  if (htm !== input.method) return 'htm does not match the request method';
  if (typeof htu !== 'string' || normalizeHtu(htu) === undefined || normalizeHtu(htu) !== normalizeHtu(input.url)) return 'htu does not match the request URL';
  if (typeof iat !== 'number' || !Number.isFinite(iat)) return 'iat missing';
  const ageSeconds = now.getTime() / 1000 - iat;
  if (ageSeconds > PROOF_MAX_AGE_SECONDS) return 'iat too old';
  if (ageSeconds < -PROOF_MAX_FUTURE_SECONDS) return 'iat in the future';
  if (input.accessToken !== undefined && ath !== accessTokenHash(input.accessToken)) return 'ath does not match the access token';
  return undefined;
}

/**
 * §4.3 step 9: htu compared without query and fragment, after syntax- and scheme-based
 * normalization (RFC 3986 §6.2.2, §6.2.3: case of scheme and host, default port, dot segments),
 * which the WHATWG URL parser performs. Undefined for anything that is not an absolute http(s) URL.
 */
export function normalizeHtu(url: string): string | undefined {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return undefined;
  }
  if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') return undefined;
  parsed.search = '';
  parsed.hash = '';
  return parsed.href;
}

/** §4.2: ath is the base64url SHA-256 of the ASCII access token. */
export const accessTokenHash = (accessToken: string): string => sha256(accessToken);

/**
 * What the replay store remembers for a proof: a hash of its key and jti (jti values are unique
 * per key, §4.2), so the store learns neither, and every id has the same short, safe shape.
 */
export const proofReplayId = (jkt: string, jti: string): string => sha256(`${jkt}.${jti}`);
