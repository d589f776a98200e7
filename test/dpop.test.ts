// DPoP (RFC 9449) end to end: oauth4webapi as the client (its DPoP option makes the proofs), the
// token endpoint binding tokens to the key, and oauth.token.validate checking a resource server's
// proof, with one-time use of a proof across two validation-service instances.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as oauth from 'oauth4webapi';
import { SignJWT, calculateJwkThumbprint, decodeJwt, exportJWK, generateKeyPair as joseKeyPair, type CryptoKey, type JWK } from 'jose';
import { jetstreamManager } from '@nats-io/jetstream';
import { DPOP_PROOF_STREAM, Subjects } from '#shared/nats/subjects.ts';
import { ensureProofReplayStream } from '#shared/dpop/proof-replay-stream.ts';
import { accessTokenHash } from '#shared/dpop/verify-dpop-proof.ts';
import { freePort, startService, startSystem, type SeededClient, type SeededUser, type System } from './helpers/system.ts';
import { codeViaNats, tokenRequest, discoverAuthorizationServer } from './helpers/oauth.ts';

const insecure = { [oauth.allowInsecureRequests]: true }; // the test issuer is http://localhost
const API = 'https://api.example.com/orders/42';

let system: System;
let scope: string;
let user: SeededUser;
let as: oauth.AuthorizationServer;

before(async () => {
  system = await startSystem('dpop');
  scope = await system.seed.scope('orders');
  user = await system.seed.user();
  as = await discoverAuthorizationServer(system);
});
after(async () => {
  await extraValidation?.stop();
  await system?.stop();
});
let extraValidation: { stop(): Promise<void> } | undefined;

type Holder = { keyPair: Awaited<ReturnType<typeof oauth.generateKeyPair>>; jwk: JWK; jkt: string };
async function holder(): Promise<Holder> {
  const keyPair = await oauth.generateKeyPair('ES256');
  const jwk = await exportJWK(keyPair.publicKey);
  return { keyPair, jwk, jkt: await calculateJwkThumbprint(jwk) };
}

const clientAuth = (client: SeededClient) => (client.clientSecret ? oauth.ClientSecretBasic(client.clientSecret) : oauth.None());

/** A code for `client`, exchanged by oauth4webapi (with a DPoP proof by `key` when given). */
async function codeGrant(client: SeededClient, key?: Holder) {
  const { redirectTo, state, verifier } = await codeViaNats(system, client, user);
  const oauthClient: oauth.Client = { client_id: client.clientId };
  const params = oauth.validateAuthResponse(as, oauthClient, redirectTo, state);
  const options = { ...insecure, ...(key ? { DPoP: oauth.DPoP(oauthClient, key.keyPair) } : {}) };
  return oauth.processAuthorizationCodeResponse(as, oauthClient,
    await oauth.authorizationCodeGrantRequest(as, oauthClient, clientAuth(client), params, client.redirectUri, verifier, options));
}

async function refreshWith(client: SeededClient, refreshToken: string, key?: Holder) {
  const oauthClient: oauth.Client = { client_id: client.clientId };
  const options = { ...insecure, ...(key ? { DPoP: oauth.DPoP(oauthClient, key.keyPair) } : {}) };
  return oauth.processRefreshTokenResponse(as, oauthClient, await oauth.refreshTokenGrantRequest(as, oauthClient, clientAuth(client), refreshToken, options));
}

const refusedWith = (code: string) => (error: unknown) => {
  assert.equal((error as oauth.ResponseBodyError).error, code, String(error));
  return true;
};

/** The DPoP proof oauth4webapi sends to a resource server for `accessToken` (captured, not sent). */
async function resourceProof(key: Holder, accessToken: string, method = 'GET', url = API): Promise<string> {
  let proof = '';
  await oauth.protectedResourceRequest(accessToken, method, new URL(url), new Headers(), null, {
    DPoP: oauth.DPoP({}, key.keyPair),
    [oauth.customFetch]: async (_url, init) => {
      proof = new Headers(init.headers).get('dpop') ?? '';
      return new Response('{}', { status: 200 });
    },
  });
  return proof;
}

type Reply = { active: boolean; allowed: boolean; error?: string; token_type?: string; cnf?: { jkt: string } };
async function validate(body: Record<string, unknown>): Promise<Reply> {
  return (await system.nc.request(Subjects.tokenValidate, JSON.stringify(body), { timeout: 5000 })).json<Reply>();
}

describe('DPoP at the token endpoint (oauth4webapi)', () => {
  it('publishes dpop_signing_alg_values_supported with ES256', () => {
    assert.ok((as.dpop_signing_alg_values_supported as string[]).includes('ES256'));
  });

  it('binds a public client\'s tokens to the key: DPoP token with cnf.jkt, refresh only by the same key', async () => {
    const client = await system.seed.client({ type: 'public', scopes: [scope], refreshTokens: true });
    const key = await holder();
    const tokens = await codeGrant(client, key);
    assert.equal(tokens.token_type, 'dpop');
    assert.deepEqual(decodeJwt(tokens.access_token).cnf, { jkt: key.jkt });

    // Another key, or no proof at all, is refused, and the refresh token stays usable by its holder.
    await assert.rejects(refreshWith(client, tokens.refresh_token!, await holder()), refusedWith('invalid_dpop_proof'));
    await assert.rejects(refreshWith(client, tokens.refresh_token!), refusedWith('invalid_dpop_proof'));
    const refreshed = await refreshWith(client, tokens.refresh_token!, key);
    assert.equal(refreshed.token_type, 'dpop');
    assert.deepEqual(decodeJwt(refreshed.access_token).cnf, { jkt: key.jkt });
    // The rotated-in refresh token is bound too.
    await assert.rejects(refreshWith(client, refreshed.refresh_token!, await holder()), refusedWith('invalid_dpop_proof'));
    assert.equal((await refreshWith(client, refreshed.refresh_token!, key)).token_type, 'dpop');
  });

  it('does not bind a confidential client\'s refresh token; its refreshed access token is bound to the new proof\'s key', async () => {
    const client = await system.seed.client({ scopes: [scope], refreshTokens: true });
    const first = await holder();
    const tokens = await codeGrant(client, first);
    assert.equal(tokens.token_type, 'dpop');
    const second = await holder();
    const refreshed = await refreshWith(client, tokens.refresh_token!, second);
    assert.deepEqual(decodeJwt(refreshed.access_token).cnf, { jkt: second.jkt });
    const bearer = await refreshWith(client, refreshed.refresh_token!);
    assert.equal(bearer.token_type, 'bearer');
    assert.equal(decodeJwt(bearer.access_token).cnf, undefined);

    // Introspection names the binding (RFC 9449 §6.2).
    const res = await fetch(`${system.urls.tokenService}/introspect`, {
      method: 'POST', body: new URLSearchParams({ token: refreshed.access_token }),
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`${client.clientId}:${client.clientSecret}`).toString('base64')}` },
    });
    const introspection = await res.json() as Record<string, unknown>;
    assert.equal(introspection.active, true);
    assert.equal(introspection.token_type, 'DPoP');
    assert.deepEqual(introspection.cnf, { jkt: second.jkt });
  });

  it('refuses a --require-dpop client\'s token request without a proof (invalid_dpop_proof), and serves it with one', async () => {
    const client = await system.seed.client({ scopes: [scope], refreshTokens: true, requireDpop: true });
    const { code, verifier } = await codeViaNats(system, client, user);
    const res = await tokenRequest(system, { grant_type: 'authorization_code', code, redirect_uri: client.redirectUri, code_verifier: verifier },
      { clientId: client.clientId, clientSecret: client.clientSecret! });
    assert.equal(res.status, 400);
    assert.equal(res.body.error, 'invalid_dpop_proof');
    assert.equal((await codeGrant(client, await holder())).token_type, 'dpop');
  });

  it('answers a bad proof with 400 invalid_dpop_proof', async () => {
    const client = await system.seed.client({ scopes: [scope], refreshTokens: true });
    const { code, verifier } = await codeViaNats(system, client, user);
    const res = await fetch(`${system.urls.tokenService}/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', dpop: 'not-a-proof', authorization: `Basic ${Buffer.from(`${client.clientId}:${client.clientSecret}`).toString('base64')}` },
      body: new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: client.redirectUri, code_verifier: verifier }),
    });
    assert.equal(res.status, 400);
    assert.equal((await res.json() as { error: string }).error, 'invalid_dpop_proof');
    assert.equal(res.headers.get('cache-control'), 'no-store');
  });
});

describe('oauth.token.validate with DPoP', () => {
  let key: Holder;
  let token: string;
  let signer: CryptoKey;
  let signerJwk: JWK;
  before(async () => {
    const client = await system.seed.client({ type: 'public', scopes: [scope], refreshTokens: true });
    key = await holder();
    token = (await codeGrant(client, key)).access_token;
    ({ privateKey: signer } = key.keyPair as { privateKey: CryptoKey });
    signerJwk = key.jwk;
  });
  let n = 0;
  /** A hand-made proof by the holder's key, with what a test changes. */
  const proof = (claims: Record<string, unknown> = {}, header: Record<string, unknown> = {}) =>
    new SignJWT({ jti: `v${++n}-${Date.now()}`, htm: 'GET', htu: API, iat: Math.floor(Date.now() / 1000), ath: accessTokenHash(token), ...claims })
      .setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk: signerJwk, ...header }).sign(signer);

  it('allows a bound token with oauth4webapi\'s proof for the request, saying DPoP and the key', async () => {
    const reply = await validate({ token, scopes: [scope], dpop: await resourceProof(key, token), method: 'GET', url: API });
    assert.equal(reply.active, true);
    assert.equal(reply.allowed, true);
    assert.equal(reply.token_type, 'DPoP');
    assert.deepEqual(reply.cnf, { jkt: key.jkt });
  });

  it('answers a bound token without a proof with invalid_token', async () => {
    assert.deepEqual(await validate({ token }), { active: false, allowed: false, error: 'invalid_token' });
  });

  it('refuses every bad proof with invalid_dpop_proof', async () => {
    const other = await joseKeyPair('ES256', { extractable: true });
    const otherJwk = await exportJWK(other.publicKey);
    const hmac = `${Buffer.from(JSON.stringify({ alg: 'HS256', typ: 'dpop+jwt', jwk: signerJwk })).toString('base64url')}.${Buffer.from('{}').toString('base64url')}.c2ln`;
    const bad: Record<string, string> = {
      'wrong typ': await proof({}, { typ: 'JWT' }),
      'alg none': `${Buffer.from(JSON.stringify({ alg: 'none', typ: 'dpop+jwt', jwk: signerJwk })).toString('base64url')}.${Buffer.from('{}').toString('base64url')}.`,
      'HMAC': hmac,
      'private key in jwk': await proof({}, { jwk: { ...signerJwk, d: 'AAAA' } }),
      'huge header': await proof({}, { pad: 'x'.repeat(4000) }),
      'stale iat': await proof({ iat: Math.floor(Date.now() / 1000) - 120 }),
      'future iat': await proof({ iat: Math.floor(Date.now() / 1000) + 60 }),
      'wrong ath': await proof({ ath: accessTokenHash('another token') }),
      'wrong htm': await proof({ htm: 'POST' }),
      'wrong htu': await proof({ htu: 'https://api.example.com/other' }),
      'wrong key': await new SignJWT({ jti: `o${n}`, htm: 'GET', htu: API, iat: Math.floor(Date.now() / 1000), ath: accessTokenHash(token) })
        .setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk: otherJwk }).sign(other.privateKey),
    };
    for (const [name, dpop] of Object.entries(bad)) {
      assert.deepEqual(await validate({ token, dpop, method: 'GET', url: API }), { active: false, allowed: false, error: 'invalid_dpop_proof' }, name);
    }
    // The same proof with another method or URL than it names.
    const good = await proof();
    assert.equal((await validate({ token, dpop: good, method: 'DELETE', url: API })).error, 'invalid_dpop_proof');
    assert.equal((await validate({ token, dpop: good, method: 'GET', url: 'https://api.example.com/orders/43' })).error, 'invalid_dpop_proof');
    assert.equal((await validate({ token, dpop: good, method: 'GET', url: API })).allowed, true, 'refused proofs are not used up');
  });

  it('answers temporarily_unavailable, never an internal error, while the replay store is away: validate a 503 service error, the token endpoint 503', async () => {
    const client = await system.seed.client({ type: 'public', scopes: [scope], refreshTokens: true });
    const bound = await holder();
    const { refresh_token: refreshToken } = await codeGrant(client, bound);
    await (await jetstreamManager(system.nc)).streams.delete(DPOP_PROOF_STREAM);
    try {
      const reply = await system.nc.request(Subjects.tokenValidate, JSON.stringify({ token, dpop: await proof(), method: 'GET', url: API }), { timeout: 5000 });
      assert.equal(reply.headers?.get('Nats-Service-Error-Code'), '503');
      assert.equal(reply.json<{ error: string }>().error, 'temporarily_unavailable');
      const oauthClient: oauth.Client = { client_id: client.clientId };
      const dpop = { ...insecure, DPoP: oauth.DPoP(oauthClient, bound.keyPair) };
      const res = await oauth.refreshTokenGrantRequest(as, oauthClient, oauth.None(), refreshToken!, dpop);
      assert.equal(res.status, 503);
      assert.equal((await res.json() as { error: string }).error, 'temporarily_unavailable');
    } finally {
      await ensureProofReplayStream(system.nc, { AUDIT_STREAM_REPLICAS: 1 });
    }
    assert.equal((await validate({ token, dpop: await proof(), method: 'GET', url: API })).allowed, true, 'served again once the store is back');
  });

  it('refuses a reused jti, also at another validation-service instance, and of concurrent uses allows exactly one', async () => {
    const once = await proof();
    assert.equal((await validate({ token, dpop: once, method: 'GET', url: API })).allowed, true);
    assert.equal((await validate({ token, dpop: once, method: 'GET', url: API })).error, 'invalid_dpop_proof');

    // A second instance joins the queue group; the first leaves, so the second answers alone.
    const port = await freePort();
    extraValidation = await startService('validation-service', { ...system.env, VALIDATION_SERVICE_PORT: String(port) });
    const racing = await proof();
    const answers = await Promise.all(Array.from({ length: 12 }, () => validate({ token, dpop: racing, method: 'GET', url: API })));
    assert.equal(answers.filter((a) => a.allowed).length, 1, 'exactly one of the concurrent uses across two instances is allowed');
    await system.stopService('validation-service');
    assert.equal((await validate({ token, dpop: once, method: 'GET', url: API })).error, 'invalid_dpop_proof', 'the new instance refuses a proof used at the old one');
    assert.equal((await validate({ token, dpop: await proof(), method: 'GET', url: API })).allowed, true);
  });
});
