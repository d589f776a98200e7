import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { decodeProtectedHeader, importJWK, jwtVerify } from 'jose';
import { createLogger } from '#shared/logger.ts';
import { encrypt } from '#shared/keys/key-encryption.ts';
import { generateSigningKey } from '#shared/keys/rotate-signing-key.ts';
import { KeyRing } from './signing-keys.ts';
import { issueAccessToken } from './issue-access-token.ts';
import { TestClock } from './test-doubles.ts';

const ISSUER = 'https://as.example.com';

describe('issueAccessToken', () => {
  it('signs an RFC 9068 JWT that jose verifies with the published key alone: ES256, typ at+jwt, kid, a 64-byte R‖S signature', async () => {
    const clock = new TestClock();
    const kek = randomBytes(32);
    const key = await generateSigningKey(kek, clock.now());
    const ring = new KeyRing({ store: { publishedSigningKeys: async () => [key], createSigningKey: async () => assert.fail('a key is published') }, kek, clock, log: createLogger('t', 'silent') });
    await ring.start();
    const grant = { sub: 'u_1', clientId: 'c_1', scopes: ['orders.read', 'orders.write'], authTime: clock.now(), grantId: 'g_1', ttlSeconds: 600, audience: ['https://api.example.com'] };
    const { token, jti, expiresIn } = await issueAccessToken({ keys: ring, issuer: ISSUER, audience: ISSUER }, grant, clock.now());

    assert.deepEqual(decodeProtectedHeader(token), { alg: 'ES256', typ: 'at+jwt', kid: key._id });
    assert.equal(Buffer.from(token.split('.')[2]!, 'base64url').length, 64);
    const { payload } = await jwtVerify(token, await importJWK(key.publicJwk, 'ES256'), {
      issuer: ISSUER, audience: 'https://api.example.com', typ: 'at+jwt', algorithms: ['ES256'], currentDate: clock.now(),
    });
    assert.equal(payload.sub, 'u_1');
    assert.equal(payload.client_id, 'c_1');
    assert.equal(payload.scope, 'orders.read orders.write');
    assert.equal(payload.jti, jti);
    assert.equal(payload.exp! - payload.iat!, expiresIn);

    const tampered = token.replace(/\.[^.]+\./, `.${Buffer.from(JSON.stringify({ ...payload, scope: 'admin' })).toString('base64url')}.`);
    await assert.rejects(jwtVerify(tampered, await importJWK(key.publicJwk, 'ES256')), /signature verification failed/);
  });

  it('never signs with a stored key that is not P-256, whatever its record says', async () => {
    const clock = new TestClock();
    const kek = randomBytes(32);
    const genuine = await generateSigningKey(kek, clock.now());
    const p384 = generateKeyPairSync('ec', { namedCurve: 'secp384r1' }).privateKey.export({ format: 'jwk' });
    const forged = { ...genuine, privateJwkEncrypted: encrypt(kek, JSON.stringify({ ...p384, kid: genuine._id, alg: 'ES256' }), genuine._id) };
    const ring = new KeyRing({ store: { publishedSigningKeys: async () => [forged], createSigningKey: async () => assert.fail('a key is published') }, kek, clock, log: createLogger('t', 'silent') });
    await assert.rejects(ring.start(), /cannot decrypt the current signing key/);
  });
});
