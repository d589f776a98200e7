import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { jwtVerify } from 'jose';
import { addSeconds } from '#shared/clock.ts';
import { createLogger } from '#shared/logger.ts';
import { ConfigError } from '#shared/config.ts';
import { generateSigningKey } from '#shared/keys/rotate-signing-key.ts';
import type { SigningKeyDoc } from '#shared/keys/signing-keys.ts';
import { KeyRing } from './signing-keys.ts';
import { issueAccessToken, verifyOwnAccessToken } from './issue-access-token.ts';
import { TestClock } from './test-doubles.ts';

const ISSUER = 'https://as.example.com';

function setup() {
  const kek = randomBytes(32);
  const clock = new TestClock();
  const docs: SigningKeyDoc[] = [];
  let created = 0;
  const store = {
    publishedSigningKeys: async (now: Date) => docs.filter((d) => d.retireAt === null || d.retireAt > now)
      .sort((a, b) => b.createdAt.getTime() - a.createdAt.getTime()),
    createSigningKey: async (k: Buffer, now: Date) => {
      created++;
      const doc = await generateSigningKey(k, now);
      docs.push(doc);
      return doc;
    },
  };
  const ring = new KeyRing({ store, kek, clock, log: createLogger('test', 'silent') });
  return { ring, docs, clock, kek, created: () => created };
}

describe('KeyRing', () => {
  it('generates a key on first start, and only then', async () => {
    const { ring, docs, kek, clock, created } = setup();
    assert.equal(await ring.start(), true);
    assert.equal(created(), 1);
    assert.equal(ring.signingKey().kid, docs[0]!._id);
    assert.equal(ring.jwks().keys.length, 1);
    assert.equal(ring.jwks().keys[0]!.d, undefined, 'JWKS never carries the private part');
    const second = new KeyRing({ store: { publishedSigningKeys: async () => docs, createSigningKey: async () => assert.fail('must not create') }, kek, clock, log: createLogger('t', 'silent') });
    assert.equal(await second.start(), false);
  });

  it('signs with the newest current key after a rotation and keeps the old one published until it retires', async () => {
    const { ring, docs, clock, kek } = setup();
    await ring.start();
    const { token } = await issueAccessToken({ keys: ring, issuer: ISSUER, audience: ISSUER }, { sub: 's', clientId: 'c', scopes: ['r'], authTime: clock.now(), grantId: 'g', ttlSeconds: 600 }, clock.now());
    clock.advance(1);
    const next = await generateSigningKey(kek, clock.now());
    docs[0]!.supersededAt = clock.now();
    docs[0]!.retireAt = addSeconds(clock.now(), 900);
    docs.push(next);
    await ring.reload();
    assert.equal(ring.signingKey().kid, next._id);
    assert.deepEqual(ring.jwks().keys.map((k) => k.kid).sort(), [docs[0]!._id, next._id].sort());
    assert.ok(await verifyOwnAccessToken({ keys: ring, issuer: ISSUER }, token, clock.now()), 'a token of the old key still verifies');
    clock.advance(901);
    await ring.reload();
    assert.deepEqual(ring.jwks().keys.map((k) => k.kid), [next._id]);
  });

  it('issues tokens that verify against the published JWK', async () => {
    const { ring, clock } = setup();
    await ring.start();
    const { token } = await issueAccessToken({ keys: ring, issuer: ISSUER, audience: 'api' }, { sub: 's', clientId: 'c', scopes: ['r'], authTime: clock.now(), grantId: 'g', ttlSeconds: 600 }, clock.now());
    const { payload, protectedHeader } = await jwtVerify(token, ring.verificationKey, { issuer: ISSUER, audience: 'api', currentDate: clock.now(), typ: 'at+jwt' });
    assert.equal(protectedHeader.kid, ring.signingKey().kid);
    assert.equal(payload.aud, 'api');
    assert.equal(await verifyOwnAccessToken({ keys: ring, issuer: 'https://other.example.com' }, token, clock.now()), undefined);
  });

  it('refuses to decrypt a key under another key-encryption key and skips it', async () => {
    const { ring, docs, clock } = setup();
    await ring.start();
    const signing = ring.signingKey().kid;
    clock.advance(1);
    docs.push(await generateSigningKey(randomBytes(32), clock.now()));
    await ring.reload();
    assert.equal(ring.signingKey().kid, signing, 'a newer key it cannot open is skipped; the held one signs on');
  });

  // Security finding 1: a loopback token-service on a shared database, without the
  // deployment's key-encryption key (the public development key), generated and announced a key of its own.
  it('finding 1: refuses to start when no published key can be decrypted, and creates no key beside them', async () => {
    const { docs, clock } = setup();
    const foreign = await generateSigningKey(randomBytes(32), clock.now());
    docs.push(foreign);
    let created = 0;
    const ring = new KeyRing({
      store: { publishedSigningKeys: async () => [...docs], createSigningKey: async (k, now) => { created++; return generateSigningKey(k, now); } },
      kek: randomBytes(32), clock, log: createLogger('t', 'silent'),
    });
    await assert.rejects(ring.start(), (error: unknown) => error instanceof ConfigError && !error.message.includes('\n')
      && error.message.includes(`OAUTH_KEY_ENCRYPTION_KEY cannot decrypt the current signing key (${foreign._id})`));
    assert.equal(created, 0, 'no key is created (nor announced) under a key-encryption key the deployment does not use');
    assert.throws(() => ring.signingKey());

    // Only superseded keys published: no fresh key either (an operator rotates).
    foreign.supersededAt = clock.now();
    foreign.retireAt = addSeconds(clock.now(), 600);
    await assert.rejects(ring.start(), /every published signing key is superseded/);
    assert.equal(created, 0);
  });
});
