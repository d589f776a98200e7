import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import { SignJWT, calculateJwkThumbprint, exportJWK, generateKeyPair, base64url, type CryptoKey, type JWK } from 'jose';
import { createHmac, generateKeyPairSync, sign } from 'node:crypto';
import { accessTokenHash, normalizeHtu, proofReplayId, verifyDpopProof, type DpopProofDeps, type DpopProofInput } from './verify-dpop-proof.ts';

const NOW_S = Math.floor(Date.parse('2030-01-01T00:00:00Z') / 1000);
const URL_ = 'https://api.example.com/orders/42';
const TOKEN = 'eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ1In0.sig';

type Pair = { privateKey: CryptoKey; jwk: JWK; jkt: string };
let es256: Pair;
let other: Pair;

async function pair(alg: string): Promise<Pair> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  const jwk = await exportJWK(publicKey);
  return { privateKey, jwk, jkt: await calculateJwkThumbprint(jwk) };
}

before(async () => {
  es256 = await pair('ES256');
  other = await pair('ES256');
});

/** A replay store in memory: what the unit needs from the real one (first use true, then false). */
function deps(nowS = NOW_S): DpopProofDeps & { seen: Set<string> } {
  const seen = new Set<string>();
  return {
    seen,
    clock: { now: () => new Date(nowS * 1000) },
    firstUse: async (id) => (seen.has(id) ? false : (seen.add(id), true)),
  };
}

let counter = 0;
type ProofOptions = { key?: Pair; alg?: string; header?: Record<string, unknown>; claims?: Record<string, unknown> };
function proof({ key = es256, alg = 'ES256', header = {}, claims = {} }: ProofOptions = {}): Promise<string> {
  return new SignJWT({ jti: `jti-${++counter}`, htm: 'GET', htu: URL_, iat: NOW_S, ath: accessTokenHash(TOKEN), ...claims })
    .setProtectedHeader({ alg, typ: 'dpop+jwt', jwk: key.jwk, ...header })
    .sign(key.privateKey);
}

const input = (p: string, over: Partial<DpopProofInput> = {}): DpopProofInput => ({ proof: p, method: 'GET', url: URL_, accessToken: TOKEN, ...over });

async function refusedBecause(p: string, pattern: RegExp, over: Partial<DpopProofInput> = {}, d = deps()): Promise<void> {
  const result = await verifyDpopProof(d, input(p, over));
  assert.equal(result.valid, false, `refused: ${pattern}`);
  assert.match((result as { reason: string }).reason, pattern);
}

/** A hand-assembled JWS (for what jose will not sign: alg none, HMAC). */
function rawJws(header: object, claims: object, sign: (input: string) => string): string {
  const encoded = `${base64url.encode(JSON.stringify(header))}.${base64url.encode(JSON.stringify(claims))}`;
  return `${encoded}.${sign(encoded)}`;
}

describe('verifyDpopProof', () => {
  it('accepts a fresh proof for this request and names its key thumbprint', async () => {
    const result = await verifyDpopProof(deps(), input(await proof(), { jkt: es256.jkt }));
    assert.deepEqual(result, { valid: true, jkt: es256.jkt });
  });

  it('accepts EdDSA, Ed25519, RS256 and PS256 proofs as well', async () => {
    for (const alg of ['EdDSA', 'Ed25519', 'RS256', 'PS256', 'ES384']) {
      const key = await pair(alg === 'EdDSA' ? 'Ed25519' : alg);
      const result = await verifyDpopProof(deps(), input(await proof({ key, alg })));
      assert.deepEqual(result, { valid: true, jkt: key.jkt }, alg);
    }
  });

  it('refuses a reused jti, and only a proof that passes every other check uses one up', async () => {
    const d = deps();
    const p = await proof();
    await refusedBecause(p, /htm/, { method: 'POST' }, d);
    assert.equal(d.seen.size, 0, 'a refused proof records nothing');
    assert.equal((await verifyDpopProof(d, input(p))).valid, true);
    await refusedBecause(p, /replay/, {}, d);
    assert.deepEqual([...d.seen], [proofReplayId(es256.jkt, `jti-${counter}`)]);
  });

  it('refuses a wrong typ, and a missing one', async () => {
    await refusedBecause(await proof({ header: { typ: 'JWT' } }), /typ/);
    await refusedBecause(await proof({ header: { typ: 'application/dpop+jwt' } }), /typ/);
    await refusedBecause(await proof({ header: { typ: undefined } }), /typ/);
  });

  it('refuses alg none and HMAC, however they are dressed', async () => {
    const claims = { jti: 'n1', htm: 'GET', htu: URL_, iat: NOW_S, ath: accessTokenHash(TOKEN) };
    await refusedBecause(rawJws({ alg: 'none', typ: 'dpop+jwt', jwk: es256.jwk }, claims, () => 'x'), /alg|JWS/);
    const secret = 'shared-secret';
    const hmac = rawJws({ alg: 'HS256', typ: 'dpop+jwt', jwk: { kty: 'oct', k: base64url.encode(secret) } }, claims,
      (signed) => createHmac('sha256', secret).update(signed).digest('base64url'));
    await refusedBecause(hmac, /alg/);
    const hmacWithPublicJwk = rawJws({ alg: 'HS256', typ: 'dpop+jwt', jwk: es256.jwk }, claims, (signed) => createHmac('sha256', secret).update(signed).digest('base64url'));
    await refusedBecause(hmacWithPublicJwk, /alg/);
  });

  it('refuses a key the alg may not use: another curve or type, a short RSA key, a key for another use; and a crit header', async () => {
    const p384 = await pair('ES384');
    await refusedBecause(await proof({ header: { alg: 'ES256', jwk: p384.jwk } }), /jwk is not/);
    const rsa = await pair('RS256');
    await refusedBecause(await proof({ key: rsa, alg: 'RS256', header: { jwk: es256.jwk } }), /jwk is not/);
    // A 1024-bit RSA key (jose will not make one): correctly signed, still refused.
    const short = generateKeyPairSync('rsa', { modulusLength: 1024 });
    const shortJwk = short.publicKey.export({ format: 'jwk' });
    const shortProof = rawJws({ alg: 'RS256', typ: 'dpop+jwt', jwk: shortJwk }, { jti: 's', htm: 'GET', htu: URL_, iat: NOW_S, ath: accessTokenHash(TOKEN) },
      (signed) => sign('sha256', Buffer.from(signed), short.privateKey).toString('base64url'));
    await refusedBecause(shortProof, /jwk is not/);
    await refusedBecause(await proof({ header: { jwk: { ...es256.jwk, use: 'enc' } } }), /jwk is not/);
    await refusedBecause(await proof({ header: { jwk: { ...es256.jwk, alg: 'ES384' } } }), /jwk is not/);
    await refusedBecause(rawJws({ alg: 'ES256', typ: 'dpop+jwt', jwk: es256.jwk, crit: ['exp'], exp: 1 }, { jti: 'c', htm: 'GET', htu: URL_, iat: NOW_S }, () => 'c2ln'), /crit/);
  });

  it('refuses RSA keys whose verification would cost many times an ES256 one: an exponent other than 65537, a modulus over 4096 bits', async () => {
    const claims = { jti: 'r', htm: 'GET', htu: URL_, iat: NOW_S, ath: accessTokenHash(TOKEN) };
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const rsaJwk = rsa.publicKey.export({ format: 'jwk' });
    const signedBy = (key: typeof rsa.privateKey) => (signed: string) => sign('sha256', Buffer.from(signed), key).toString('base64url');
    // The same key with e = 65537 is accepted (the bound is not a refusal of RSA)…
    const good = rawJws({ alg: 'RS256', typ: 'dpop+jwt', jwk: rsaJwk }, claims, signedBy(rsa.privateKey));
    assert.equal((await verifyDpopProof(deps(), input(good))).valid, true);
    // …a ~3,000-bit public exponent (the signature need not even verify: the cost is paid checking it) is not,
    const hugeExponent = { ...rsaJwk, e: base64url.encode(Buffer.alloc(380, 0xff)) };
    await refusedBecause(rawJws({ alg: 'RS256', typ: 'dpop+jwt', jwk: hugeExponent }, claims, () => 'c2ln'), /jwk is not/);
    await refusedBecause(rawJws({ alg: 'RS256', typ: 'dpop+jwt', jwk: { ...rsaJwk, e: 'Aw' } }, claims, () => 'c2ln'), /jwk is not/);
    // …nor a modulus of 4,608 bits.
    const bigModulus = { ...rsaJwk, n: base64url.encode(Buffer.concat([Buffer.from([0xc1]), Buffer.alloc(575, 0x5b), Buffer.from([0x01])])) };
    await refusedBecause(rawJws({ alg: 'PS256', typ: 'dpop+jwt', jwk: bigModulus }, claims, () => 'c2ln'), /jwk is not/);
  });

  it('refuses a jwk with private key material, and a missing jwk', async () => {
    const { privateKey } = await generateKeyPair('ES256', { extractable: true });
    const privateJwk = await exportJWK(privateKey);
    await refusedBecause(await proof({ header: { jwk: privateJwk }, key: { ...es256, privateKey } }), /private/);
    await refusedBecause(await proof({ header: { jwk: { ...es256.jwk, d: 'AAAA' } } }), /private/);
    await refusedBecause(await proof({ header: { jwk: undefined } }), /jwk/);
    await refusedBecause(await proof({ header: { jwk: 'not-an-object' } }), /jwk/);
  });

  it('refuses a proof signed by another key than its header names, or for another key than the token', async () => {
    await refusedBecause(await proof({ header: { jwk: other.jwk } }), /signature/);
    await refusedBecause(await proof(), /another key/, { jkt: other.jkt });
  });

  it('refuses a huge header, a huge proof and what is not a compact JWS', async () => {
    await refusedBecause(await proof({ header: { pad: 'x'.repeat(4000) } }), /header too large|size/);
    await refusedBecause(await proof({ claims: { pad: 'x'.repeat(9000) } }), /size/);
    for (const junk of ['', 'a.b', 'a.b.c.d', 'not a jwt', '..', 'é.é.é']) await refusedBecause(junk, /compact JWS/);
    await refusedBecause('e30.e30.e30', /typ/);
    await refusedBecause('bm90IGpzb24.e30.e30', /JSON/);
  });

  it('refuses stale and future proofs, within the window both edges', async () => {
    await refusedBecause(await proof({ claims: { iat: NOW_S - 61 } }), /too old/);
    await refusedBecause(await proof({ claims: { iat: NOW_S + 6 } }), /future/);
    await refusedBecause(await proof({ claims: { iat: undefined } }), /iat/);
    await refusedBecause(await proof({ claims: { iat: 'yesterday' } }), /signature|iat/);
    assert.equal((await verifyDpopProof(deps(), input(await proof({ claims: { iat: NOW_S - 60 } })))).valid, true);
    assert.equal((await verifyDpopProof(deps(), input(await proof({ claims: { iat: NOW_S + 5 } })))).valid, true);
  });

  it('refuses a missing or oversized jti', async () => {
    await refusedBecause(await proof({ claims: { jti: undefined } }), /jti/);
    await refusedBecause(await proof({ claims: { jti: '' } }), /jti/);
    await refusedBecause(await proof({ claims: { jti: 'j'.repeat(513) } }), /jti/);
  });

  it('refuses a wrong htm, htu or ath', async () => {
    await refusedBecause(await proof({ claims: { htm: 'POST' } }), /htm/);
    await refusedBecause(await proof({ claims: { htm: 'get' } }), /htm/);
    await refusedBecause(await proof({ claims: { htu: 'https://api.example.com/orders/43' } }), /htu/);
    await refusedBecause(await proof({ claims: { htu: 'https://evil.example.com/orders/42' } }), /htu/);
    await refusedBecause(await proof({ claims: { htu: 'not a url' } }), /htu/);
    await refusedBecause(await proof({ claims: { htu: undefined } }), /htu/);
    await refusedBecause(await proof({ claims: { ath: accessTokenHash('another token') } }), /ath/);
    await refusedBecause(await proof({ claims: { ath: undefined } }), /ath/);
  });

  it('compares htu without query and fragment, after normalization', async () => {
    const p = await proof({ claims: { htu: 'HTTPS://API.example.com:443/orders/./42?x=1#frag' } });
    assert.equal((await verifyDpopProof(deps(), input(p, { url: 'https://api.example.com/orders/42?page=2' }))).valid, true);
    assert.equal(normalizeHtu('https://a.example/x?y#z'), 'https://a.example/x');
    assert.equal(normalizeHtu('ftp://a.example/x'), undefined);
    assert.equal(normalizeHtu('/relative'), undefined);
  });

  it('needs no ath at the token endpoint (no access token yet)', async () => {
    const p = await proof({ claims: { htm: 'POST', htu: 'https://as.example.com/token', ath: undefined } });
    assert.equal((await verifyDpopProof(deps(), { proof: p, method: 'POST', url: 'https://as.example.com/token' })).valid, true);
  });

  it('lets a failing replay store fail the check (no proof accepted unchecked)', async () => {
    const failing: DpopProofDeps = { clock: deps().clock, firstUse: async () => { throw new Error('replay store away'); } };
    await assert.rejects(verifyDpopProof(failing, input(await proof())), /replay store away/);
  });
});
