import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { exportJWK, generateKeyPair, importJWK, type CryptoKey, type JWK } from 'jose';
import { createLogger } from '#shared/logger.ts';
import { UNKNOWN_KID_RELOAD_MS, VerificationKeys } from './verification-keys.ts';
import type { PublishedKey } from '#shared/keys/signing-keys.ts';

const T0 = Date.parse('2030-01-01T00:00:00Z');
const log = createLogger('test', 'silent');

async function publicJwk(): Promise<JWK> {
  const { publicKey } = await generateKeyPair('ES256', { extractable: true });
  return exportJWK(publicKey);
}

async function harness(initial: PublishedKey[]) {
  let nowMs = T0;
  let published = initial;
  let loads = 0;
  let imports = 0;
  const keys = new VerificationKeys({
    clock: { now: () => new Date(nowMs) },
    log,
    loadKeys: async () => {
      loads++;
      return published;
    },
    importKey: async (jwk) => {
      imports++;
      return (await importJWK(jwk, 'ES256')) as CryptoKey;
    },
  });
  return {
    keys,
    counts: () => ({ loads, imports }),
    publish: (p: PublishedKey[]) => { published = p; },
    setNow: (ms: number) => { nowMs = ms; },
  };
}

describe('VerificationKeys', () => {
  it('imports each key once, however often the keys are reloaded', async () => {
    const a: PublishedKey = { kid: 'a', alg: 'ES256', publicJwk: await publicJwk(), retireAt: null };
    const h = await harness([a]);
    await h.keys.reload();
    const first = h.keys.current('a');
    await h.keys.reload();
    await h.keys.reload();
    assert.ok(first);
    assert.equal(h.keys.current('a'), first);
    assert.deepEqual(h.counts(), { loads: 3, imports: 1 });
  });

  it('reloads for an unknown kid at most once per 5 s, and shares one load between concurrent callers', async () => {
    const h = await harness([]);
    await h.keys.reload();
    const b: PublishedKey = { kid: 'b', alg: 'ES256', publicJwk: await publicJwk(), retireAt: null };
    h.publish([b]);
    const [x, y] = await Promise.all([h.keys.find('b'), h.keys.find('b')]);
    assert.ok(x);
    assert.equal(x, y);
    assert.equal(h.counts().loads, 2);

    assert.equal(await h.keys.find('made-up-1'), undefined);
    assert.equal(h.counts().loads, 2, 'an unknown kid within 5 s of the last such reload causes no query');
    h.setNow(T0 + UNKNOWN_KID_RELOAD_MS);
    assert.equal(await h.keys.find('made-up-2'), undefined);
    assert.equal(await h.keys.find('made-up-3'), undefined);
    assert.equal(h.counts().loads, 3, 'one reload, then refusals until 5 s have passed');
  });

  it('stops accepting a key at its retireAt, without waiting for a reload', async () => {
    const c: PublishedKey = { kid: 'c', alg: 'ES256', publicJwk: await publicJwk(), retireAt: new Date(T0 + 1000) };
    const h = await harness([c]);
    await h.keys.reload();
    assert.ok(h.keys.current('c'));
    h.setNow(T0 + 1000);
    assert.equal(h.keys.current('c'), undefined);
    assert.equal(await h.keys.find('c'), undefined);
    assert.equal(h.counts().loads, 1, 'a retired kid is known: no reload for it');
  });

  it('holds only ES256 keys, and skips one that cannot be imported', async () => {
    const good: PublishedKey = { kid: 'good', alg: 'ES256', publicJwk: await publicJwk(), retireAt: null };
    const other = { kid: 'rsa', alg: 'RS256', publicJwk: await publicJwk(), retireAt: null };
    const broken: PublishedKey = { kid: 'broken', alg: 'ES256', publicJwk: { kty: 'EC', crv: 'P-256', x: 'AA', y: 'AA' }, retireAt: null };
    const h = await harness([good, other, broken]);
    await h.keys.reload();
    assert.equal(h.keys.size, 1);
    assert.ok(h.keys.current('good'));
  });

  it('drops a key that is no longer published', async () => {
    const d: PublishedKey = { kid: 'd', alg: 'ES256', publicJwk: await publicJwk(), retireAt: null };
    const h = await harness([d]);
    await h.keys.reload();
    h.publish([]);
    await h.keys.reload();
    assert.equal(h.keys.current('d'), undefined);
  });
});
