import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { decodeJwt, decodeProtectedHeader } from 'jose';
import { addSeconds } from '#shared/clock.ts';
import { sha256 } from '#shared/crypto.ts';
import { OAuthError } from '#shared/oauth-error.ts';
import type { ClientDoc } from '#shared/reference-data/clients.ts';
import { redeemCode, type Deps, type RedeemCodeInput } from './redeem-code.ts';
import { AuditRecorder, MemoryStore, TestClock, testClient, testKeys } from './test-doubles.ts';
import type { AuthorizationCode } from './store.ts';

const CODE = 'c'.repeat(43);
const VERIFIER = 'v'.repeat(43);
const REDIRECT = 'https://client.example.com/cb';

async function setup(codeOverrides: Partial<AuthorizationCode> = {}) {
  const store = new MemoryStore();
  const clock = new TestClock();
  const audit = new AuditRecorder();
  const now = clock.now();
  store.codes.set(sha256(CODE), {
    codeHash: sha256(CODE), clientId: 'c_test', redirectUri: REDIRECT, redirectUriSent: true, codeChallenge: sha256(VERIFIER),
    scopes: ['read'], sub: 'u_1', username: 'alice', authTime: now, grantId: 'g'.repeat(22),
    createdAt: now, expiresAt: addSeconds(now, 60), consumedAt: null, ...codeOverrides,
  });
  const deps: Deps = {
    store, clock, audit,
    tokens: { keys: await testKeys(), issuer: 'https://as.example.com', audience: 'https://as.example.com' },
    recordRevocation: async (r) => store.recordRevocation(r),
  };
  return { deps, store, clock, audit };
}

const input = (overrides: Partial<RedeemCodeInput> = {}): RedeemCodeInput =>
  ({ client: testClient(), code: CODE, redirectUri: REDIRECT, codeVerifier: VERIFIER, ...overrides });

async function refusal(promise: Promise<unknown>): Promise<OAuthError> {
  const error = await promise.then(() => undefined, (e: unknown) => e);
  assert.ok(error instanceof OAuthError, `expected an OAuthError, got ${String(error)}`);
  return error;
}

describe('redeemCode', () => {
  it('issues an RFC 9068 access token and a refresh token, and stores the family by hash', async () => {
    const { deps, store, audit } = await setup();
    const result = await redeemCode(deps, input());
    assert.deepEqual(decodeProtectedHeader(result.accessToken), { alg: 'ES256', typ: 'at+jwt', kid: 'test-kid' });
    const claims = decodeJwt(result.accessToken);
    assert.equal(claims.sub, 'u_1');
    assert.equal(claims.client_id, 'c_test');
    assert.equal(claims.scope, 'read');
    assert.equal(claims.gid, 'g'.repeat(22));
    assert.equal((claims.exp ?? 0) - (claims.iat ?? 0), 600);
    assert.deepEqual(result.scopes, ['read']);
    assert.ok(result.refreshToken?.startsWith(`${'g'.repeat(22)}.`));
    const family = store.families.get('g'.repeat(22))!;
    assert.equal(family.currentHash, sha256(result.refreshToken!));
    assert.equal(family.revokedAt, null);
    assert.equal(audit.ofType('oauth.token.issued').length, 1);
    assert.equal(audit.ofType('oauth.token.issued')[0]!.data.jti, claims.jti);
  });

  it('gives no refresh token to a client not set to get them', async () => {
    const { deps, store } = await setup();
    const result = await redeemCode(deps, input({ client: testClient({ grantTypes: ['authorization_code'] }) }));
    assert.equal(result.refreshToken, undefined);
    assert.equal(store.families.size, 0);
  });

  it('refuses a client without the authorization_code grant with unauthorized_client', async () => {
    const { deps } = await setup();
    const error = await refusal(redeemCode(deps, input({ client: testClient({ grantTypes: ['refresh_token'] as ClientDoc['grantTypes'] }) })));
    assert.equal(error.code, 'unauthorized_client');
  });

  it('refuses a replayed code, revokes the grant once, and reports it once', async () => {
    const { deps, store, audit } = await setup();
    const first = await redeemCode(deps, input());
    for (let i = 0; i < 3; i++) assert.equal((await refusal(redeemCode(deps, input()))).code, 'invalid_grant');
    const family = store.families.get('g'.repeat(22))!;
    assert.notEqual(family.revokedAt, null);
    assert.equal(family.currentHash, sha256(first.refreshToken!), 'the family is revoked, not replaced');
    assert.equal(store.revocations.filter((r) => r.kind === 'grant' && r.key === 'g'.repeat(22)).length, 1);
    assert.equal(audit.ofType('oauth.code.replayed').length, 1);
  });

  it('blocks the family when the replay is handled before the winner stores it', async () => {
    const { deps, store } = await setup({ consumedAt: new Date('2030-01-01T00:00:00Z') });
    await refusal(redeemCode(deps, input()));
    assert.notEqual(store.families.get('g'.repeat(22))?.revokedAt, null);
    assert.equal(await store.createFamily({ ...store.families.get('g'.repeat(22))!, revokedAt: null }), false);
  });

  it('refuses an expired code', async () => {
    const { deps, clock } = await setup();
    clock.advance(60);
    assert.equal((await refusal(redeemCode(deps, input()))).code, 'invalid_grant');
  });

  it('refuses an unknown code', async () => {
    const { deps } = await setup();
    assert.equal((await refusal(redeemCode(deps, input({ code: 'x'.repeat(43) })))).code, 'invalid_grant');
  });

  it('refuses another client\u2019s code without consuming it', async () => {
    const { deps } = await setup();
    assert.equal((await refusal(redeemCode(deps, input({ client: testClient({ _id: 'c_other' }) })))).code, 'invalid_grant');
    await redeemCode(deps, input());
  });

  it('refuses PKCE failures without consuming the code', async () => {
    const { deps } = await setup();
    for (const codeVerifier of ['w'.repeat(43), undefined, 'short', 'v'.repeat(42) + '!']) {
      assert.equal((await refusal(redeemCode(deps, input({ codeVerifier })))).code, 'invalid_grant');
    }
    await redeemCode(deps, input());
  });

  it('refuses a code_verifier for a code issued without a challenge (PKCE downgrade)', async () => {
    const { deps } = await setup({ codeChallenge: null });
    assert.equal((await refusal(redeemCode(deps, input()))).code, 'invalid_grant');
    await redeemCode(deps, input({ codeVerifier: undefined }));
  });

  it('requires PKCE from public clients', async () => {
    const { deps } = await setup({ codeChallenge: null });
    const error = await refusal(redeemCode(deps, input({ client: testClient({ type: 'public' }), codeVerifier: undefined })));
    assert.equal(error.code, 'invalid_grant');
  });

  it('requires the identical redirect_uri when the authorization request sent one', async () => {
    const { deps } = await setup();
    for (const redirectUri of [undefined, `${REDIRECT}/`, REDIRECT.toUpperCase()]) {
      assert.equal((await refusal(redeemCode(deps, input({ redirectUri })))).code, 'invalid_grant');
    }
    await redeemCode(deps, input());
  });

  it('accepts a missing redirect_uri when the authorization request left it out, but checks one that is sent', async () => {
    const { deps } = await setup({ redirectUriSent: false });
    assert.equal((await refusal(redeemCode(deps, input({ redirectUri: 'https://evil.example.com/cb' })))).code, 'invalid_grant');
    await redeemCode(deps, input({ redirectUri: undefined }));
  });

  it('requires the code parameter', async () => {
    const { deps } = await setup();
    assert.equal((await refusal(redeemCode(deps, input({ code: undefined })))).code, 'invalid_request');
  });
});
