import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createSealer, MAX_SEALED_LENGTH } from './sealed-state.ts';

const kek = randomBytes(32);
const expiresAt = new Date('2030-01-01T00:00:00Z');

test('a sealed value opens to its payload and expiry', () => {
  const codes = createSealer<{ grantId: string; scopes: string[] }>(kek, 'authorization-code');
  const sealed = codes.seal({ grantId: 'g1', scopes: ['a', 'b'] }, expiresAt);
  assert.match(sealed, /^[A-Za-z0-9_-]+$/);
  assert.deepEqual(codes.open(sealed), { payload: { grantId: 'g1', scopes: ['a', 'b'] }, expiresAt });
});

test('two seals of one payload differ (random IV), and neither reveals it', () => {
  const codes = createSealer<{ secret: string }>(kek, 'authorization-code');
  const a = codes.seal({ secret: 'owner-alice' }, expiresAt);
  const b = codes.seal({ secret: 'owner-alice' }, expiresAt);
  assert.notEqual(a, b);
  assert.ok(!Buffer.from(a, 'base64url').toString('latin1').includes('owner-alice'));
});

test('a value sealed as one kind does not open as another, nor under another key', () => {
  const sealed = createSealer(kek, 'refresh-token').seal({ g: 1 }, expiresAt);
  assert.equal(createSealer(kek, 'authorization-code').open(sealed), undefined);
  assert.equal(createSealer(randomBytes(32), 'refresh-token').open(sealed), undefined);
});

test('tampered, truncated, malformed and oversized values do not open', () => {
  const sealer = createSealer(kek, 'refresh-token');
  const sealed = sealer.seal({ g: 1 }, expiresAt);
  const bytes = Buffer.from(sealed, 'base64url');
  for (const index of [0, 1, 13, bytes.length - 1]) {
    const flipped = Buffer.from(bytes);
    flipped[index]! ^= 1;
    assert.equal(sealer.open(flipped.toString('base64url')), undefined, `byte ${index} flipped`);
  }
  for (const bad of ['', 'a', sealed.slice(0, 20), `${sealed}x`, `${sealed}AA`, `${sealed}.`, `${sealed}=`, 'x'.repeat(MAX_SEALED_LENGTH + 1), '%00', 'é']) {
    assert.equal(sealer.open(bad), undefined, JSON.stringify(bad.slice(0, 30)));
  }
});
