import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { addSeconds } from '#shared/clock.ts';
import { OAuthError } from '#shared/oauth-error.ts';
import { revokeToken, type Deps } from './revoke-token.ts';
import { issueAccessToken } from './issue-access-token.ts';
import { newRefreshToken } from './refresh-token-format.ts';
import { AuditRecorder, MemoryStore, TestClock, testClient, testKeys } from './test-doubles.ts';

const GRANT = 'R'.repeat(22);
const ISSUER = 'https://as.example.com';

async function setup() {
  const store = new MemoryStore();
  const clock = new TestClock();
  const audit = new AuditRecorder();
  const keys = await testKeys();
  const now = clock.now();
  const refresh = newRefreshToken(GRANT);
  await store.createFamily({
    grantId: GRANT, clientId: 'c_test', sub: 'u_1', username: 'alice', scopes: ['read'], authTime: now,
    currentHash: refresh.hash, accessTokenTtlSeconds: 600, createdAt: now, rotatedAt: null,
    expiresAt: addSeconds(now, 3600), revokedAt: null,
  });
  const access = await issueAccessToken({ keys, issuer: ISSUER, audience: ISSUER }, {
    sub: 'u_1', clientId: 'c_test', scopes: ['read'], authTime: now, grantId: GRANT, ttlSeconds: 600,
  }, now);
  const deps: Deps = { store, clock, audit, keys, issuer: ISSUER, recordRevocation: async (r) => store.recordRevocation(r) };
  return { deps, store, clock, audit, keys, refreshToken: refresh.token, accessToken: access };
}

const client = testClient();
const other = testClient({ _id: 'c_other' });

describe('revokeToken', () => {
  it('revokes the client\u2019s refresh token family and the grant\u2019s access tokens', async () => {
    const { deps, store, audit, refreshToken } = await setup();
    assert.equal(await revokeToken(deps, { client, token: refreshToken, tokenTypeHint: 'refresh_token' }), 'refresh_token');
    assert.notEqual(store.families.get(GRANT)?.revokedAt, null);
    assert.deepEqual(store.revocations.map((r) => [r.kind, r.key]), [['grant', GRANT]]);
    const event = audit.ofType('oauth.token.revoked')[0]!;
    assert.equal(event.data.grant_id, GRANT);
    assert.ok(!JSON.stringify(event).includes(refreshToken));
  });

  it('records the client\u2019s access token by jti until it expires, whatever the hint', async () => {
    const { deps, store, clock, accessToken } = await setup();
    assert.equal(await revokeToken(deps, { client, token: accessToken.token, tokenTypeHint: 'refresh_token' }), 'access_token');
    const [record] = store.revocations;
    assert.equal(record?.kind, 'jti');
    assert.equal(record?.key, accessToken.jti);
    assert.ok(record!.expiresAt > addSeconds(clock.now(), 600));
    assert.equal(store.families.get(GRANT)?.revokedAt, null, 'an access token revocation leaves the family alone');
  });

  it('leaves another client\u2019s tokens alone', async () => {
    const { deps, store, refreshToken, accessToken } = await setup();
    assert.equal(await revokeToken(deps, { client: other, token: refreshToken, tokenTypeHint: undefined }), 'nothing');
    assert.equal(await revokeToken(deps, { client: other, token: accessToken.token, tokenTypeHint: 'access_token' }), 'nothing');
    assert.equal(store.families.get(GRANT)?.revokedAt, null);
    assert.equal(store.revocations.length, 0);
  });

  it('does nothing for unknown, malformed, foreign or expired tokens', async () => {
    const { deps, store, clock, accessToken } = await setup();
    const foreign = await issueAccessToken({ keys: await testKeys(), issuer: ISSUER, audience: ISSUER }, {
      sub: 'u_1', clientId: 'c_test', scopes: [], authTime: clock.now(), grantId: GRANT, ttlSeconds: 600,
    }, clock.now());
    for (const token of ['garbage', 'a.b.c', newRefreshToken(GRANT).token, foreign.token, 'x'.repeat(5000), 'unknown-hint']) {
      assert.equal(await revokeToken(deps, { client, token, tokenTypeHint: 'whatever' }), 'nothing');
    }
    clock.advance(601);
    assert.equal(await revokeToken(deps, { client, token: accessToken.token, tokenTypeHint: undefined }), 'nothing');
    assert.equal(store.revocations.length, 0);
  });

  it('requires the token parameter', async () => {
    const { deps } = await setup();
    const error = await revokeToken(deps, { client, token: undefined, tokenTypeHint: undefined }).catch((e: unknown) => e);
    assert.ok(error instanceof OAuthError);
    assert.equal(error.code, 'invalid_request');
  });
});
