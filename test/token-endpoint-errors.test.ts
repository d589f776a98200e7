// Every refusal of the token endpoint (RFC 6749 §5.2, RFC 7636 §4.6, CONTRACT "Token endpoint"
// and "Sign-in abuse") against the real services: the status, the error code, the headers, and
// that a refused request consumed nothing it should not have.
import { authorizationCodeSealer } from '#shared/grants/authorization-codes.ts';
import { keyEncryptionKey } from '#shared/keys/key-encryption.ts';
import { CommonConfigSchema, parseConfig } from '#shared/config.ts';
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startTokenSystem, type SeededClient, type SeededUser, type System } from './helpers/system.ts';
import { codeViaNats, exchangeCode, tokenRequest, type TokenResponse } from './helpers/oauth.ts';
import { refreshRequest } from './helpers/token-requests.ts';

let system: System;
let scope: string;
let user: SeededUser;

before(async () => {
  ({ system, scope, user } = await startTokenSystem('tokenerrors', 'files'));
});
after(() => system.stop());

const newClient = (options: { type?: 'confidential' | 'public'; refreshTokens?: boolean } = {}) => system.seed.client({ scopes: [scope], ...options });

function assertError(res: TokenResponse, status: number, error: string): void {
  assert.equal(res.status, status, JSON.stringify(res.body));
  assert.equal(res.body.error, error);
  assert.equal(typeof res.body.error_description, 'string');
  assert.match(res.body.error_description as string, /^[\x20-\x7E]+$/);
  assert.equal(res.headers.get('cache-control'), 'no-store');
  assert.equal(res.headers.get('pragma'), 'no-cache');
  if (error === 'invalid_client') assert.equal(res.headers.get('www-authenticate'), 'Basic realm="oauth"');
}

const basicHeader = (id: string, secret: string) => `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`;

async function rawTokenRequest(body: string, headers: Record<string, string>): Promise<TokenResponse> {
  const res = await fetch(`${system.urls.tokenService}/token`, { method: 'POST', headers, body });
  return { status: res.status, body: (await res.json()) as Record<string, unknown>, headers: res.headers };
}

/** A code the client can still redeem after the refusal proves the refusal consumed nothing. */
async function assertStillRedeemable(client: SeededClient, code: string, verifier: string): Promise<void> {
  const res = await exchangeCode(system, client, code, verifier);
  assert.equal(res.status, 200, `the code should still be redeemable: ${JSON.stringify(res.body)}`);
}

describe('POST /token client authentication', () => {
  it('refuses a wrong secret with 401 invalid_client and a Basic challenge', async () => {
    const client = await newClient();
    const { code, verifier } = await codeViaNats(system, client, user);
    const form = { grant_type: 'authorization_code', code, redirect_uri: client.redirectUri, code_verifier: verifier };
    assertError(await tokenRequest(system, form, { clientId: client.clientId, clientSecret: 'wrong-secret' }), 401, 'invalid_client');
    assertError(await tokenRequest(system, form, { clientId: client.clientId, clientSecret: 'wrong-secret', method: 'post' }), 401, 'invalid_client');
    await assertStillRedeemable(client, code, verifier);
  });

  it('refuses missing credentials, an unknown client and a confidential client without its secret with 401', async () => {
    const client = await newClient();
    const form = { grant_type: 'authorization_code', code: 'x', redirect_uri: client.redirectUri };
    assertError(await tokenRequest(system, form), 401, 'invalid_client');
    assertError(await tokenRequest(system, form, { clientId: client.clientId }), 401, 'invalid_client');
    assertError(await tokenRequest(system, form, { clientId: 'c_unknown', clientSecret: 'x' }), 401, 'invalid_client');
    assertError(await rawTokenRequest('grant_type=authorization_code&code=x', { 'content-type': 'application/x-www-form-urlencoded', authorization: 'Basic %%%' }), 401, 'invalid_client');
  });

  it('refuses a public client that presents a secret', async () => {
    const client = await newClient({ type: 'public' });
    const { code, verifier } = await codeViaNats(system, client, user);
    const form = { grant_type: 'authorization_code', code, redirect_uri: client.redirectUri, code_verifier: verifier };
    assertError(await tokenRequest(system, form, { clientId: client.clientId, clientSecret: 'made-up', method: 'post' }), 401, 'invalid_client');
    assertError(await tokenRequest(system, form, { clientId: client.clientId, clientSecret: 'made-up', method: 'basic' }), 401, 'invalid_client');
    await assertStillRedeemable(client, code, verifier);
  });

  it('refuses two authentication methods in one request with invalid_request', async () => {
    const client = await newClient();
    const body = new URLSearchParams({ grant_type: 'authorization_code', code: 'x', client_id: client.clientId, client_secret: client.clientSecret! });
    const res = await rawTokenRequest(body.toString(), { 'content-type': 'application/x-www-form-urlencoded', authorization: basicHeader(client.clientId, client.clientSecret!) });
    assertError(res, 400, 'invalid_request');
  });

  it('locks a client after 10 consecutive failures (for 60 s: see the unit test), refusing even the right secret with the same answer', async () => {
    const client = await newClient();
    const other = await newClient();
    const { code, verifier } = await codeViaNats(system, client, user);
    const form = { grant_type: 'authorization_code', code, redirect_uri: client.redirectUri, code_verifier: verifier };
    const failures = [];
    for (let i = 0; i < 10; i++) failures.push(await tokenRequest(system, form, { clientId: client.clientId, clientSecret: `wrong-${i}` }));
    for (const f of failures) assertError(f, 401, 'invalid_client');
    const locked = await tokenRequest(system, form, { clientId: client.clientId, clientSecret: client.clientSecret! });
    assertError(locked, 401, 'invalid_client');
    assert.deepEqual(locked.body, failures[0]!.body, 'the same answer as any failure');
    // Another client is not affected.
    const b = await codeViaNats(system, other, user);
    assert.equal((await exchangeCode(system, other, b.code, b.verifier)).status, 200);
  });

  it('counts concurrent failures too: 10 at once lock the client', async () => {
    const client = await newClient();
    const form = { grant_type: 'authorization_code', code: 'x', redirect_uri: client.redirectUri };
    const failures = await Promise.all(Array.from({ length: 10 }, (_, i) => tokenRequest(system, form, { clientId: client.clientId, clientSecret: `wrong-${i}` })));
    for (const f of failures) assertError(f, 401, 'invalid_client');
    const { code, verifier } = await codeViaNats(system, client, user);
    assertError(await exchangeCode(system, client, code, verifier), 401, 'invalid_client');
  });
});

describe('POST /token request format', () => {
  it('refuses a JSON body with invalid_request', async () => {
    const client = await newClient();
    const res = await rawTokenRequest(JSON.stringify({ grant_type: 'authorization_code', code: 'x' }),
      { 'content-type': 'application/json', authorization: basicHeader(client.clientId, client.clientSecret!) });
    assertError(res, 400, 'invalid_request');
  });

  it('refuses a repeated parameter with invalid_request, without consuming the code', async () => {
    const client = await newClient();
    const { code, verifier } = await codeViaNats(system, client, user);
    const body = `${new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: client.redirectUri, code_verifier: verifier })}&code=${code}`;
    const res = await rawTokenRequest(body, { 'content-type': 'application/x-www-form-urlencoded', authorization: basicHeader(client.clientId, client.clientSecret!) });
    assertError(res, 400, 'invalid_request');
    await assertStillRedeemable(client, code, verifier);
  });

  it('refuses a missing or unsupported grant type', async () => {
    const client = await newClient();
    const auth = { clientId: client.clientId, clientSecret: client.clientSecret! };
    assertError(await tokenRequest(system, { code: 'x' }, auth), 400, 'invalid_request');
    assertError(await tokenRequest(system, { grant_type: 'password', username: user.username, password: user.password }, auth), 400, 'unsupported_grant_type');
    for (const grantType of ['implicit', 'CLIENT_CREDENTIALS', 'urn:ietf:params:oauth:grant-type:device_code']) {
      assertError(await tokenRequest(system, { grant_type: grantType }, auth), 400, 'unsupported_grant_type');
    }
    // Supported, but this client is not registered for it (RFC 6749 §5.2).
    assertError(await tokenRequest(system, { grant_type: 'client_credentials' }, auth), 400, 'unauthorized_client');
  });

  it('refuses the refresh grant to a client not allowed it with unauthorized_client', async () => {
    const client = await newClient({ refreshTokens: false });
    assertError(await refreshRequest(system, client, `${'a'.repeat(22)}.${'b'.repeat(43)}`), 400, 'unauthorized_client');
  });
});

describe('POST /token grant_type=authorization_code refusals', () => {
  it('refuses a code issued to another client without consuming it', async () => {
    const owner = await newClient();
    const thief = await newClient();
    const { code, verifier } = await codeViaNats(system, owner, user);
    const res = await tokenRequest(system, { grant_type: 'authorization_code', code, redirect_uri: owner.redirectUri, code_verifier: verifier },
      { clientId: thief.clientId, clientSecret: thief.clientSecret! });
    assertError(res, 400, 'invalid_grant');
    await assertStillRedeemable(owner, code, verifier);
  });

  it('refuses a wrong or missing code_verifier (RFC 7636 §4.6)', async () => {
    const client = await newClient();
    const { code, verifier } = await codeViaNats(system, client, user);
    assertError(await exchangeCode(system, client, code, 'x'.repeat(43)), 400, 'invalid_grant');
    assertError(await exchangeCode(system, client, code, undefined), 400, 'invalid_grant');
    assertError(await exchangeCode(system, client, code, 'too-short'), 400, 'invalid_grant');
    await assertStillRedeemable(client, code, verifier);
  });

  it('refuses a code_verifier for a code issued without a code_challenge (PKCE downgrade)', async () => {
    const client = await newClient();
    const { code, verifier } = await codeViaNats(system, client, user, { pkce: false });
    assertError(await exchangeCode(system, client, code, verifier), 400, 'invalid_grant');
    const res = await exchangeCode(system, client, code, undefined);
    assert.equal(res.status, 200, 'a confidential client without PKCE may redeem without a verifier');
  });

  it('requires the identical redirect_uri when the authorization request included one (RFC 6749 §4.1.3)', async () => {
    const client = await newClient();
    const { code, verifier } = await codeViaNats(system, client, user);
    const auth = { clientId: client.clientId, clientSecret: client.clientSecret! };
    const form = { grant_type: 'authorization_code', code, code_verifier: verifier };
    assertError(await tokenRequest(system, form, auth), 400, 'invalid_grant');
    assertError(await tokenRequest(system, { ...form, redirect_uri: `${client.redirectUri}/other` }, auth), 400, 'invalid_grant');
    assertError(await tokenRequest(system, { ...form, redirect_uri: client.redirectUri.toUpperCase() }, auth), 400, 'invalid_grant');
    await assertStillRedeemable(client, code, verifier);
  });

  it('refuses an expired code', async () => {
    const client = await newClient();
    const { code, verifier } = await codeViaNats(system, client, user);
    // The same code as it is a second after its expiry: sealed again, unchanged, with the expiry passed.
    const codes = authorizationCodeSealer(keyEncryptionKey(parseConfig(CommonConfigSchema, {}))) // the suite's services run on the development key;
    const expired = codes.seal(codes.open(code)!.payload, new Date(Date.now() - 1000));
    assertError(await exchangeCode(system, client, expired, verifier), 400, 'invalid_grant');
    await assertStillRedeemable(client, code, verifier);
  });

  it('refuses an unknown code and a missing code', async () => {
    const client = await newClient();
    assertError(await exchangeCode(system, client, 'made-up-code', undefined), 400, 'invalid_grant');
    assertError(await tokenRequest(system, { grant_type: 'authorization_code', redirect_uri: client.redirectUri }, { clientId: client.clientId, clientSecret: client.clientSecret! }), 400, 'invalid_request');
  });
});
