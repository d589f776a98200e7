// The two kinds of authorization code: the current kind (claimed by its family) and the earlier
// kind, which an earlier release's token-service, the only one that claims codes its own way,
// must not be able to open.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { authorizationCodeSealer, type AuthorizationCodePayload } from './authorization-codes.ts';
import { createSealer } from './sealed-state.ts';

const kek = randomBytes(32);
const expiresAt = new Date('2030-01-01T00:00:00Z');
const payload: AuthorizationCodePayload = {
  grantId: 'g1', clientId: 'c1', redirectUri: 'https://client.example/cb', redirectUriSent: true, codeChallenge: null,
  scopes: ['read'], sub: 'u1', username: 'alice', authTime: 1_900_000_000, issuedAt: 1_900_000_000_000,
};

test('a code sealed now opens with the family as its claim; one of the earlier kind with its grant id first', () => {
  const codes = authorizationCodeSealer(kek);
  assert.deepEqual(codes.open(codes.seal(payload, expiresAt)), { payload, expiresAt, claim: 'family' });
  const earlier = createSealer<AuthorizationCodePayload>(kek, 'authorization-code').seal(payload, expiresAt);
  assert.deepEqual(codes.open(earlier), { payload, expiresAt, claim: 'code-then-family' });
});

test('a code sealed now does not open as the earlier kind: an earlier token-service refuses it instead of claiming it its way', () => {
  const sealed = authorizationCodeSealer(kek).seal(payload, expiresAt);
  assert.equal(createSealer(kek, 'authorization-code').open(sealed), undefined);
});

test('neither kind opens under another key, nor as a refresh token', () => {
  const sealed = authorizationCodeSealer(kek).seal(payload, expiresAt);
  assert.equal(authorizationCodeSealer(randomBytes(32)).open(sealed), undefined);
  assert.equal(createSealer(kek, 'refresh-token').open(sealed), undefined);
  assert.equal(authorizationCodeSealer(kek).open(createSealer(kek, 'refresh-token').seal(payload, expiresAt)), undefined);
});
