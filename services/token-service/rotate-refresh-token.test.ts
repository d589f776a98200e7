import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { decodeJwt } from 'jose';
import { addSeconds } from '#shared/clock.ts';
import { OAuthError } from '#shared/oauth-error.ts';
import { rotateRefreshToken, parseRequestedScope, type Deps, type RotateRefreshTokenInput } from './rotate-refresh-token.ts';
import { newRefreshToken, refreshTokenGrantId } from './refresh-token-format.ts';
import { AuditRecorder, MemoryStore, TestClock, testClient, testKeys } from './test-doubles.ts';

const GRANT = 'G'.repeat(22);

async function setup() {
  const store = new MemoryStore();
  const clock = new TestClock();
  const audit = new AuditRecorder();
  const now = clock.now();
  const first = newRefreshToken(GRANT);
  await store.createFamily({
    grantId: GRANT, clientId: 'c_test', sub: 'u_1', username: 'alice', scopes: ['read', 'write'], authTime: now,
    currentHash: first.hash, accessTokenTtlSeconds: 600, createdAt: now, rotatedAt: null,
    expiresAt: addSeconds(now, 3600), revokedAt: null,
  });
  const deps: Deps = {
    store, clock, audit,
    tokens: { keys: await testKeys(), issuer: 'https://as.example.com', audience: 'https://as.example.com' },
    recordRevocation: async (r) => store.recordRevocation(r),
  };
  return { deps, store, clock, audit, token: first.token };
}

const input = (refreshToken: string, overrides: Partial<RotateRefreshTokenInput> = {}): RotateRefreshTokenInput =>
  ({ client: testClient(), refreshToken, scope: undefined, ...overrides });

async function refusal(promise: Promise<unknown>): Promise<OAuthError> {
  const error = await promise.then(() => undefined, (e: unknown) => e);
  assert.ok(error instanceof OAuthError, `expected an OAuthError, got ${String(error)}`);
  return error;
}

describe('rotateRefreshToken', () => {
  it('rotates: the new token works, the response has the whole grant as scope', async () => {
    const { deps, audit, token } = await setup();
    const second = await rotateRefreshToken(deps, input(token));
    assert.deepEqual(second.scopes, ['read', 'write']);
    assert.equal(decodeJwt(second.accessToken).scope, 'read write');
    assert.notEqual(second.refreshToken, token);
    const third = await rotateRefreshToken(deps, input(second.refreshToken!));
    assert.ok(third.refreshToken);
    assert.equal(audit.ofType('oauth.token.refreshed').length, 2);
  });

  it('revokes the whole family when a rotated-out token is reused, and reports it once', async () => {
    const { deps, store, audit, token } = await setup();
    const second = await rotateRefreshToken(deps, input(token));
    assert.equal((await refusal(rotateRefreshToken(deps, input(token)))).code, 'invalid_grant');
    assert.equal((await refusal(rotateRefreshToken(deps, input(second.refreshToken!)))).code, 'invalid_grant');
    assert.equal((await refusal(rotateRefreshToken(deps, input(token)))).code, 'invalid_grant');
    assert.notEqual(store.families.get(GRANT)?.revokedAt, null);
    assert.deepEqual(store.revocations.map((r) => [r.kind, r.key]), [['grant', GRANT]]);
    assert.equal(audit.ofType('oauth.refresh_token.reused').length, 1);
  });

  it('lets exactly one of concurrent refreshes with one token succeed; the rest are reuse', async () => {
    const { deps, store, audit, token } = await setup();
    const results = await Promise.allSettled(Array.from({ length: 5 }, () => rotateRefreshToken(deps, input(token))));
    assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1);
    for (const r of results) if (r.status === 'rejected') assert.equal((r.reason as OAuthError).code, 'invalid_grant');
    assert.notEqual(store.families.get(GRANT)?.revokedAt, null);
    assert.equal(audit.ofType('oauth.refresh_token.reused').length, 1);
  });

  it('narrows the access token scope on request; the family keeps the grant', async () => {
    const { deps, token } = await setup();
    const narrowed = await rotateRefreshToken(deps, input(token, { scope: 'read' }));
    assert.deepEqual(narrowed.scopes, ['read']);
    assert.equal(decodeJwt(narrowed.accessToken).scope, 'read');
    const full = await rotateRefreshToken(deps, input(narrowed.refreshToken!));
    assert.deepEqual(full.scopes, ['read', 'write']);
  });

  it('refuses a wider scope with invalid_scope and leaves the refresh token usable', async () => {
    const { deps, store, token } = await setup();
    store.families.get(GRANT)!.scopes = ['read'];
    assert.equal((await refusal(rotateRefreshToken(deps, input(token, { scope: 'read write' })))).code, 'invalid_scope');
    assert.equal((await refusal(rotateRefreshToken(deps, input(token, { scope: 'admin' })))).code, 'invalid_scope');
    assert.equal((await refusal(rotateRefreshToken(deps, input(token, { scope: 'bad"scope' })))).code, 'invalid_scope');
    const next = await rotateRefreshToken(deps, input(token));
    assert.deepEqual(next.scopes, ['read']);
  });

  it('refuses another client\u2019s refresh token without revoking the family', async () => {
    const { deps, store, token } = await setup();
    assert.equal((await refusal(rotateRefreshToken(deps, input(token, { client: testClient({ _id: 'c_other' }) })))).code, 'invalid_grant');
    assert.equal(store.families.get(GRANT)?.revokedAt, null);
    await rotateRefreshToken(deps, input(token));
  });

  it('refuses an expired family, a malformed token and a guessed token without revoking', async () => {
    const { deps, store, clock, token } = await setup();
    assert.equal((await refusal(rotateRefreshToken(deps, input('not-a-token')))).code, 'invalid_grant');
    assert.equal((await refusal(rotateRefreshToken(deps, input(newRefreshToken(GRANT).token)))).code, 'invalid_grant');
    assert.equal(store.families.get(GRANT)?.revokedAt, null);
    clock.advance(3600);
    assert.equal((await refusal(rotateRefreshToken(deps, input(token)))).code, 'invalid_grant');
  });

  it('refuses a client without the refresh_token grant with unauthorized_client', async () => {
    const { deps, token } = await setup();
    const error = await refusal(rotateRefreshToken(deps, input(token, { client: testClient({ grantTypes: ['authorization_code'] }) })));
    assert.equal(error.code, 'unauthorized_client');
  });
});

describe('refresh token format', () => {
  it('carries the grant id and 256 random bits', () => {
    const { token } = newRefreshToken(GRANT);
    assert.equal(refreshTokenGrantId(token), GRANT);
    assert.equal(refreshTokenGrantId(`${GRANT}.short`), undefined);
    assert.equal(refreshTokenGrantId('nodot'), undefined);
    assert.equal(refreshTokenGrantId(`bad grant.${'a'.repeat(43)}`), undefined);
  });

  it('parses the scope parameter per RFC 6749 §3.3', () => {
    assert.equal(parseRequestedScope(undefined), undefined);
    assert.deepEqual(parseRequestedScope('a b a'), ['a', 'b']);
    assert.throws(() => parseRequestedScope('a  b'));
  });
});
