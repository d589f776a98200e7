// The HTTP mapping of /token, /revoke and /jwks.json, driven with fastify's inject and hand-written deps.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { FastifyInstance } from 'fastify';
import { addSeconds, epochSeconds } from '#shared/clock.ts';
import { sha256 } from '#shared/crypto.ts';
import { MAX_SEALED_LENGTH } from '#shared/grants/sealed-state.ts';
import type { AuthorizationCodes } from '#shared/grants/authorization-codes.ts';
import { createLogger } from '#shared/logger.ts';
import { createHttpServer } from '#shared/http/create-http-server.ts';
import { unavailable } from '#shared/oauth-error.ts';
import type { ClientDoc } from '#shared/reference-data/clients.ts';
import { registerRoutes } from './http.ts';
import { SignJWT, calculateJwkThumbprint, decodeJwt, exportJWK, generateKeyPair } from 'jose';
import { AuditRecorder, MemoryStore, TestClock, recordRevocationInto, testClient, testKeys, testRevocations, testSealers } from './test-doubles.ts';

const SECRET = 'the-secret';
const client = testClient({ _id: 'c_http', secretHash: sha256(SECRET) });
const basic = `Basic ${Buffer.from(`c_http:${SECRET}`).toString('base64')}`;

let app: FastifyInstance;
let codes: AuthorizationCodes;
let clock: TestClock;
const usedProofs = new Set<string>();
const TOKEN_ENDPOINT = 'https://as.example.com/token';

before(async () => {
  const store = new MemoryStore();
  clock = new TestClock();
  const audit = new AuditRecorder();
  const keys = await testKeys();
  const log = createLogger('test', 'silent');
  const findClient = async (id: string): Promise<ClientDoc | undefined> => {
    if (id === 'c_boom') throw new Error('unexpected');
    if (id === 'c_down') throw unavailable('database down');
    return id === client._id ? client : undefined;
  };
  const revocations = testRevocations(clock);
  const recordRevocation = recordRevocationInto(store, revocations, clock);
  const sealers = testSealers();
  codes = sealers.codes;
  const { refreshTokens } = sealers;
  const tokens = { keys, issuer: 'https://as.example.com', audience: 'https://as.example.com' };
  app = createHttpServer({ log, metrics: { contentType: 'text/plain', render: async () => '', observeHttp: () => undefined, count: () => undefined }, ready: async () => ({}) });
  registerRoutes(app, {
    authenticate: { findClient, store, clock, log, metrics: { count: () => undefined }, maxFailures: 10, lockSeconds: 60 },
    redeem: { store, codes, refreshTokens, revocations, clock, audit, tokens, recordRevocation },
    rotate: { store, refreshTokens, revocations, clock, audit, tokens, recordRevocation },
    clientCredentials: { clock, audit, tokens },
    revoke: { store, refreshTokens, clock, audit, keys, issuer: 'https://as.example.com', recordRevocation },
    introspect: {
      store, refreshTokens, revocations, clock, cache: undefined, issuer: 'https://as.example.com', audience: 'https://as.example.com',
      keys: { current: () => keys.publicKey, find: async () => keys.publicKey },
      user: () => undefined, findUser: async () => undefined,
    },
    dpop: { clock, firstUse: async (id) => (usedProofs.has(id) ? false : (usedProofs.add(id), true)), tokenEndpointUrl: TOKEN_ENDPOINT },
    jwks: () => ({ keys: [{ kty: 'EC', kid: 'test-kid' }] }),
    jwksMaxAgeSeconds: 60,
  });
  await app.ready();
});
after(() => app.close());

const form = (body: string, headers: Record<string, string> = {}) =>
  app.inject({ method: 'POST', url: '/token', headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers }, payload: body });

function assertOAuthError(res: Awaited<ReturnType<typeof form>>, status: number, error: string) {
  assert.equal(res.statusCode, status, res.body);
  assert.equal(res.json().error, error);
  assert.equal(typeof res.json().error_description, 'string');
  assert.equal(res.headers['cache-control'], 'no-store');
  assert.equal(res.headers.pragma, 'no-cache');
}

const VERIFIER = 'v'.repeat(43);
const REDIRECT = 'https://client.example.com/cb';

/** A code as authorize-service seals it for c_http. */
function sealCode(grantId: string, redirectUri = REDIRECT): string {
  const now = clock.now();
  return codes.seal({
    grantId, clientId: 'c_http', redirectUri, redirectUriSent: true, codeChallenge: sha256(VERIFIER),
    scopes: ['read'], sub: 'u_1', username: 'alice', authTime: epochSeconds(now), issuedAt: now.getTime(),
  }, addSeconds(now, 60));
}

const exchange = (code: string, redirectUri = REDIRECT) =>
  form(new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: redirectUri, code_verifier: VERIFIER }).toString(), { authorization: basic });
const refresh = (token: string) =>
  form(new URLSearchParams({ grant_type: 'refresh_token', refresh_token: token }).toString(), { authorization: basic });
const revoke = (token: string) =>
  app.inject({ method: 'POST', url: '/revoke', headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic }, payload: new URLSearchParams({ token }).toString() });

describe('POST /token (HTTP mapping)', () => {
  it('answers a code exchange and a refresh with an RFC 6749 §5.1 response, never cached', async () => {
    const issued = await exchange(sealCode('h'.repeat(22)));
    assert.equal(issued.statusCode, 200, issued.body);
    assert.equal(issued.headers['cache-control'], 'no-store');
    assert.equal(issued.headers.pragma, 'no-cache');
    const body = issued.json();
    assert.deepEqual(Object.keys(body).sort(), ['access_token', 'expires_in', 'refresh_token', 'scope', 'token_type']);
    assert.deepEqual([body.token_type, body.expires_in, body.scope], ['Bearer', 600, 'read']);
    const refreshed = await refresh(body.refresh_token);
    assert.equal(refreshed.statusCode, 200, refreshed.body);
    assert.notEqual(refreshed.json().refresh_token, body.refresh_token);
  });

  it('accepts the code of a long redirect URI: a sealed code grows with what it carries', async () => {
    const redirectUri = `https://client.example.com/cb/${'p'.repeat(1500)}`;
    const res = await exchange(sealCode('l'.repeat(22), redirectUri), redirectUri);
    assert.equal(res.statusCode, 200, res.body);
  });

  it('answers a replayed code and a reused refresh token with invalid_grant', async () => {
    const code = sealCode('i'.repeat(22));
    const { refresh_token: first } = (await exchange(code)).json();
    assertOAuthError(await exchange(code), 400, 'invalid_grant');
    // The replay revoked the grant, so even its unspent refresh token is refused.
    assertOAuthError(await refresh(first), 400, 'invalid_grant');

    const { refresh_token: token } = (await exchange(sealCode('j'.repeat(22)))).json();
    assert.equal((await refresh(token)).statusCode, 200);
    assertOAuthError(await refresh(token), 400, 'invalid_grant');
  });


  it('refuses anything but a form body with invalid_request', async () => {
    const json = await app.inject({ method: 'POST', url: '/token', headers: { 'content-type': 'application/json', authorization: basic }, payload: '{"grant_type":"authorization_code"}' });
    assertOAuthError(json, 400, 'invalid_request');
    const text = await app.inject({ method: 'POST', url: '/token', headers: { 'content-type': 'text/plain' }, payload: 'grant_type=authorization_code' });
    assertOAuthError(text, 400, 'invalid_request');
    assertOAuthError(await app.inject({ method: 'POST', url: '/token' }), 400, 'invalid_request');
  });

  it('refuses a repeated parameter with invalid_request (RFC 6749 §3.2)', async () => {
    assertOAuthError(await form('grant_type=authorization_code&code=a&code=b', { authorization: basic }), 400, 'invalid_request');
    assertOAuthError(await form('grant_type=authorization_code&grant_type=refresh_token', { authorization: basic }), 400, 'invalid_request');
  });

  it('refuses an over-long parameter with invalid_request and an over-large body with 413', async () => {
    // Sealed codes and tokens may be long, but not longer than anything sealed here can be.
    assertOAuthError(await form(`grant_type=authorization_code&code=${'a'.repeat(MAX_SEALED_LENGTH + 1)}`, { authorization: basic }), 400, 'invalid_request');
    assertOAuthError(await form(`grant_type=refresh_token&refresh_token=${'a'.repeat(MAX_SEALED_LENGTH + 1)}`, { authorization: basic }), 400, 'invalid_request');
    assertOAuthError(await form(`grant_type=authorization_code&code=x&code_verifier=${'a'.repeat(513)}`, { authorization: basic }), 400, 'invalid_request');
    assertOAuthError(await form(`grant_type=authorization_code&x=${'a'.repeat(20_000)}`, { authorization: basic }), 413, 'invalid_request');
  });

  it('treats a parameter without a value as omitted', async () => {
    assertOAuthError(await form('grant_type=', { authorization: basic }), 400, 'invalid_request');
    assertOAuthError(await form('grant_type=authorization_code&code=', { authorization: basic }), 400, 'invalid_request');
  });

  it('answers an unknown grant type with unsupported_grant_type', async () => {
    assertOAuthError(await form('grant_type=password&username=a&password=b', { authorization: basic }), 400, 'unsupported_grant_type');
  });

  it('answers invalid_client with 401 and a Basic challenge', async () => {
    const res = await form('grant_type=authorization_code&code=x', { authorization: `Basic ${Buffer.from('c_http:wrong').toString('base64')}` });
    assertOAuthError(res, 401, 'invalid_client');
    assert.equal(res.headers['www-authenticate'], 'Basic realm="oauth"');
    const none = await form('grant_type=authorization_code&code=x');
    assertOAuthError(none, 401, 'invalid_client');
    assert.equal(none.headers['www-authenticate'], 'Basic realm="oauth"');
  });

  it('maps an unavailable dependency to 503 and anything unexpected to a 500 that says nothing', async () => {
    const down = await form('grant_type=authorization_code&code=x&client_id=c_down');
    assertOAuthError(down, 503, 'temporarily_unavailable');
    const boom = await form('grant_type=authorization_code&code=x&client_id=c_boom');
    assertOAuthError(boom, 500, 'server_error');
    assert.ok(!boom.body.includes('unexpected'));
  });
});

describe('POST /revoke (HTTP mapping)', () => {
  it('answers 200 with an empty body for a revoked refresh token, which no longer refreshes', async () => {
    const { refresh_token: token } = (await exchange(sealCode('k'.repeat(22)))).json();
    const res = await revoke(token);
    assert.equal(res.statusCode, 200);
    assert.equal(res.body, '');
    assert.equal((await revoke(token)).statusCode, 200, 'and again, though nothing is left to revoke');
    assertOAuthError(await refresh(token), 400, 'invalid_grant');
  });

  it('answers 200 with an empty body for an unknown token, and invalid_request without a token', async () => {
    const ok = await app.inject({ method: 'POST', url: '/revoke', headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic }, payload: 'token=unknown&token_type_hint=whatever' });
    assert.equal(ok.statusCode, 200);
    assert.equal(ok.body, '');
    assert.equal(ok.headers['cache-control'], 'no-store');
    const missing = await app.inject({ method: 'POST', url: '/revoke', headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic }, payload: 'token_type_hint=access_token' });
    assertOAuthError(missing, 400, 'invalid_request');
  });
});

describe('POST /introspect (HTTP mapping)', () => {
  const introspect = (body: string, headers: Record<string, string> = { authorization: basic }, contentType = 'application/x-www-form-urlencoded') =>
    app.inject({ method: 'POST', url: '/introspect', headers: { 'content-type': contentType, ...headers }, payload: body });

  it('describes the client\u2019s own access and refresh tokens, uncached', async () => {
    const { access_token: access, refresh_token: token } = (await exchange(sealCode('n'.repeat(22)))).json();
    const a = await introspect(`token=${access}`);
    assert.equal(a.statusCode, 200);
    assert.equal(a.json().active, true);
    assert.equal(a.json().token_type, 'Bearer');
    assert.equal(a.headers['cache-control'], 'no-store');
    assert.equal(a.headers.pragma, 'no-cache');
    const r = await introspect(`token=${encodeURIComponent(token)}&token_type_hint=refresh_token`);
    assert.deepEqual([r.json().active, r.json().token_type, r.json().client_id], [true, 'refresh_token', 'c_http']);
  });

  it('answers exactly {"active":false} for garbage and for a value longer than any token', async () => {
    for (const token of ['garbage', 'a.b.c', 'x'.repeat(9000)]) {
      const res = await introspect(`token=${token}`);
      assert.equal(res.statusCode, 200);
      assert.equal(res.body, '{"active":false}');
    }
  });

  it('refuses a caller that does not authenticate with a secret, a missing or repeated token, and a JSON body', async () => {
    const none = await introspect('token=x', {});
    assertOAuthError(none, 401, 'invalid_client');
    assert.equal(none.headers['www-authenticate'], 'Basic realm="oauth"');
    assertOAuthError(await introspect(''), 400, 'invalid_request');
    assertOAuthError(await introspect('token=a&token=b'), 400, 'invalid_request');
    assertOAuthError(await introspect('{"token":"a"}', { authorization: basic }, 'application/json'), 400, 'invalid_request');
    assertOAuthError(await introspect(`token=${'x'.repeat(20_000)}`), 413, 'invalid_request');
  });

  it('maps an unavailable database to 503 with Retry-After', async () => {
    const down = await introspect('token=x&client_id=c_down', {});
    assertOAuthError(down, 503, 'temporarily_unavailable');
    assert.equal(down.headers['retry-after'], '1');
  });
});

describe('GET /jwks.json', () => {
  it('serves the key set, cacheable for a minute', async () => {
    const res = await app.inject({ method: 'GET', url: '/jwks.json' });
    assert.equal(res.statusCode, 200);
    assert.equal(res.headers['cache-control'], 'public, max-age=60');
    assert.deepEqual(res.json(), { keys: [{ kty: 'EC', kid: 'test-kid' }] });
  });
});

describe('readForm', () => {
  it('ignores unknown parameters, prototype keys included', async () => {
    const res = await form('grant_type=authorization_code&__proto__=x&constructor=y&unknown=z&code=c', { authorization: basic });
    assert.equal(res.statusCode, 400);
    assert.equal(res.json().error, 'invalid_grant');
  });
});

describe('POST /token with a DPoP proof (RFC 9449 §5)', () => {
  const dpopKey = generateKeyPair('ES256', { extractable: true });
  let n = 0;
  const proof = async (claims: Record<string, unknown> = {}) => {
    const { privateKey, publicKey } = await dpopKey;
    return new SignJWT({ jti: `tp${++n}`, htm: 'POST', htu: TOKEN_ENDPOINT, iat: epochSeconds(clock.now()), ...claims })
      .setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk: await exportJWK(publicKey) }).sign(privateKey);
  };
  const exchangeWith = (code: string, dpop: string) =>
    form(new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: REDIRECT, code_verifier: VERIFIER }).toString(), { authorization: basic, dpop });

  it('issues a DPoP token bound to the proof key (cnf.jkt); the confidential client\'s refresh token is not bound', async () => {
    const res = await exchangeWith(sealCode('d'.repeat(22)), await proof());
    assert.equal(res.statusCode, 200, res.body);
    assert.equal(res.json().token_type, 'DPoP');
    const jkt = await calculateJwkThumbprint(await exportJWK((await dpopKey).publicKey));
    assert.deepEqual(decodeJwt(res.json().access_token).cnf, { jkt });
    const refreshed = await refresh(res.json().refresh_token);
    assert.equal(refreshed.statusCode, 200, refreshed.body);
    assert.equal(refreshed.json().token_type, 'Bearer', 'a refresh without a proof gets a bearer token');
    assert.equal(decodeJwt(refreshed.json().access_token).cnf, undefined);
  });

  it('refuses a bad, misdirected or replayed proof with 400 invalid_dpop_proof, consuming nothing', async () => {
    const code = sealCode('e'.repeat(22));
    for (const bad of ['garbage', await proof({ htm: 'GET' }), await proof({ htu: 'https://as.example.com/other' }), await proof({ iat: 1 })]) {
      assertOAuthError(await exchangeWith(code, bad), 400, 'invalid_dpop_proof');
    }
    const once = await proof();
    assert.equal((await exchangeWith(code, once)).statusCode, 200, 'the code was not spent by the refused requests');
    assertOAuthError(await exchangeWith(sealCode('f'.repeat(22)), once), 400, 'invalid_dpop_proof');
  });
});
