import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { addSeconds, epochSeconds } from '#shared/clock.ts';
import { OAuthError } from '#shared/oauth-error.ts';
import { revocableRefreshToken } from '#shared/grants/refresh-tokens.ts';
import { revokeToken, type Deps } from './revoke-token.ts';
import { issueAccessToken } from './issue-access-token.ts';
import { revocationExpiry } from './revoke-grant.ts';
import { firstRefreshToken } from './rotate-refresh-token.ts';
import { AuditRecorder, MemoryStore, TestClock, familyOf, recordRevocationInto, testClient, testKeys, testRevocations, testSealers } from './test-doubles.ts';

const GRANT = 'R'.repeat(22);
const ISSUER = 'https://as.example.com';
const FAMILY_TTL = 3600;

async function setup() {
  const store = new MemoryStore();
  const clock = new TestClock();
  const audit = new AuditRecorder();
  const revocations = testRevocations(clock);
  const { refreshTokens } = testSealers();
  const keys = await testKeys();
  const now = clock.now();
  const familyExpiresAt = addSeconds(now, FAMILY_TTL);
  const grant = { grantId: GRANT, clientId: 'c_test', sub: 'u_1', username: 'alice', scopes: ['read'], authTime: epochSeconds(now), grantStartedAtMs: now.getTime() };
  await store.createFamily(familyOf(grant, now, familyExpiresAt));
  const refreshToken = firstRefreshToken(refreshTokens, grant, familyExpiresAt);
  const access = await issueAccessToken({ keys, issuer: ISSUER, audience: ISSUER }, {
    sub: 'u_1', clientId: 'c_test', scopes: ['read'], authTime: now, grantId: GRANT, ttlSeconds: 600,
  }, now);
  const deps: Deps = { store, refreshTokens, clock, audit, keys, issuer: ISSUER, recordRevocation: recordRevocationInto(store, revocations, clock) };
  return { deps, store, clock, audit, revocations, refreshTokens, refreshToken, familyExpiresAt, accessToken: access };
}

const client = testClient();
const other = testClient({ _id: 'c_other' });

describe('revokeToken', () => {
  it('revokes the client\u2019s refresh token: its whole grant, refresh and access tokens alike', async () => {
    const { deps, store, audit, revocations, refreshTokens, refreshToken, familyExpiresAt } = await setup();
    assert.equal(await revokeToken(deps, { client, token: refreshToken, tokenTypeHint: 'refresh_token' }), 'refresh_token');
    assert.notEqual(store.families.get(GRANT)?.revokedAt, null);
    assert.deepEqual(store.revocations.map((r) => [r.kind, r.key]), [['grant', GRANT]]);
    // The token is sealed: this record refuses it (and the grant's access tokens) until the family expires.
    assert.equal(store.revocations[0]!.expiresAt.getTime(), revocationExpiry(familyExpiresAt, 600).getTime());
    assert.equal(revocations.isRevoked(revocableRefreshToken(refreshTokens.open(refreshToken)!)), true);
    const event = audit.ofType('oauth.token.revoked')[0]!;
    assert.equal(event.data.grant_id, GRANT);
    assert.equal(event.data.token_type, 'refresh_token');
    assert.ok(!JSON.stringify(event).includes(refreshToken));
  });

  it('revokes the grant from a rotated-out token of the client too', async () => {
    const { deps, store, clock, refreshTokens, refreshToken, familyExpiresAt } = await setup();
    // Generation 0 was spent by a rotation; its holder is still the client.
    assert.ok(await store.spendRefreshToken({ grantId: GRANT, generation: 0 }, familyExpiresAt, clock.now()));
    assert.ok(refreshTokens.open(refreshToken));
    assert.equal(await revokeToken(deps, { client, token: refreshToken, tokenTypeHint: undefined }), 'refresh_token');
    assert.notEqual(store.families.get(GRANT)?.revokedAt, null);
  });

  it('reports a grant\u2019s revocation once, however many requests revoke it at once', async () => {
    const { deps, audit, refreshToken } = await setup();
    const outcomes = await Promise.all(Array.from({ length: 5 }, () => revokeToken(deps, { client, token: refreshToken, tokenTypeHint: undefined })));
    assert.deepEqual(outcomes.filter((o) => o === 'refresh_token').length, 1);
    assert.ok(outcomes.every((o) => o === 'refresh_token' || o === 'nothing'));
    assert.equal(await revokeToken(deps, { client, token: refreshToken, tokenTypeHint: undefined }), 'nothing', 'nor later');
    assert.equal(audit.ofType('oauth.token.revoked').length, 1);
  });

  it('records the client\u2019s access token by jti until it expires, whatever the hint', async () => {
    const { deps, store, clock, revocations, accessToken } = await setup();
    assert.equal(await revokeToken(deps, { client, token: accessToken.token, tokenTypeHint: 'refresh_token' }), 'access_token');
    const [record] = store.revocations;
    assert.equal(record?.kind, 'jti');
    assert.equal(record?.key, accessToken.jti);
    assert.ok(record!.expiresAt > addSeconds(clock.now(), 600));
    assert.equal(revocations.isRevoked({ jti: accessToken.jti, grantId: GRANT, sub: 'u_1', clientId: 'c_test', iat: 0 }), true);
    assert.equal(store.families.get(GRANT)?.revokedAt, null, 'an access token revocation leaves the family alone');
    assert.equal(store.claims.size, 0);
  });

  it('leaves another client\u2019s tokens alone', async () => {
    const { deps, store, audit, refreshToken, accessToken } = await setup();
    assert.equal(await revokeToken(deps, { client: other, token: refreshToken, tokenTypeHint: undefined }), 'nothing');
    assert.equal(await revokeToken(deps, { client: other, token: accessToken.token, tokenTypeHint: 'access_token' }), 'nothing');
    assert.equal(store.families.get(GRANT)?.revokedAt, null);
    assert.equal(store.claims.size, 0);
    assert.equal(store.revocations.length, 0);
    assert.equal(audit.events.length, 0);
  });

  it('does nothing for unknown, malformed, tampered or foreign tokens', async () => {
    const { deps, store, clock, refreshToken } = await setup();
    const foreignAccess = await issueAccessToken({ keys: await testKeys(), issuer: ISSUER, audience: ISSUER }, {
      sub: 'u_1', clientId: 'c_test', scopes: [], authTime: clock.now(), grantId: GRANT, ttlSeconds: 600,
    }, clock.now());
    // Sealed under another key: what a refresh token of another deployment (or a forgery) looks like.
    const foreignRefresh = testSealers().refreshTokens.seal({ grantId: GRANT, generation: 0, clientId: 'c_test', sub: 'u_1', username: 'alice', scopes: [], authTime: 0, grantStartedAtMs: 0 }, addSeconds(clock.now(), 60));
    const tampered = `${refreshToken.slice(0, 20)}${refreshToken[20] === 'A' ? 'B' : 'A'}${refreshToken.slice(21)}`;
    for (const token of ['garbage', 'a.b.c', foreignRefresh, tampered, foreignAccess.token, 'x'.repeat(5000), 'unknown-hint']) {
      assert.equal(await revokeToken(deps, { client, token, tokenTypeHint: 'whatever' }), 'nothing');
    }
    assert.equal(store.families.get(GRANT)?.revokedAt, null);
    assert.equal(store.claims.size, 0);
    assert.equal(store.revocations.length, 0);
  });

  it('does nothing for expired tokens: an access token past its exp, a refresh token past its family\u2019s expiry', async () => {
    const { deps, store, clock, refreshToken, accessToken } = await setup();
    clock.advance(601);
    assert.equal(await revokeToken(deps, { client, token: accessToken.token, tokenTypeHint: undefined }), 'nothing');
    clock.advance(FAMILY_TTL);
    assert.equal(await revokeToken(deps, { client, token: refreshToken, tokenTypeHint: undefined }), 'nothing');
    assert.equal(store.families.get(GRANT)?.revokedAt, null);
    assert.equal(store.claims.size, 0);
    assert.equal(store.revocations.length, 0);
  });

  it('requires the token parameter', async () => {
    const { deps } = await setup();
    const error = await revokeToken(deps, { client, token: undefined, tokenTypeHint: undefined }).catch((e: unknown) => e);
    assert.ok(error instanceof OAuthError);
    assert.equal(error.code, 'invalid_request');
  });
});
