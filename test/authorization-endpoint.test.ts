// The authorization endpoint and RFC 8414 metadata, seen from a client and a browser.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startSystem, type SeededClient, type System } from './helpers/system.ts';
import { authorizeUrl, pkcePair } from './helpers/oauth.ts';

let system: System;
let client: SeededClient;
let scope: string;

before(async () => {
  system = await startSystem('authz-endpoint', { services: ['authorize-service'] });
  scope = await system.seed.scope('orders');
  client = await system.seed.client({ scopes: [scope] });
});
after(() => system.stop());

const get = (params: Record<string, string>) => fetch(authorizeUrl(system, params), { redirect: 'manual' });
const valid = () => ({ response_type: 'code', client_id: client.clientId, redirect_uri: client.redirectUri, scope, state: 'st-1' });

describe('GET /.well-known/oauth-authorization-server', () => {
  it('advertises every endpoint at its real public URL (RFC 8414)', async () => {
    const res = await fetch(`${system.urls.issuer}/.well-known/oauth-authorization-server`);
    assert.equal(res.status, 200);
    const meta = (await res.json()) as Record<string, unknown>;
    assert.equal(meta.issuer, system.env.OAUTH_ISSUER);
    assert.equal(meta.authorization_endpoint, `${system.env.OAUTH_ISSUER}/authorize`);
    assert.equal(meta.token_endpoint, `http://localhost:${system.env.TOKEN_SERVICE_PORT}/token`);
    assert.equal(meta.jwks_uri, `http://localhost:${system.env.TOKEN_SERVICE_PORT}/jwks.json`);
    assert.equal(meta.revocation_endpoint, `http://localhost:${system.env.TOKEN_SERVICE_PORT}/revoke`);
    assert.equal(meta.introspection_endpoint, `http://localhost:${system.env.TOKEN_SERVICE_PORT}/introspect`);
    assert.deepEqual(meta.response_types_supported, ['code']);
    assert.deepEqual(meta.grant_types_supported, ['authorization_code', 'refresh_token', 'client_credentials']);
    assert.deepEqual(meta.code_challenge_methods_supported, ['S256']);
    assert.deepEqual(meta.token_endpoint_auth_methods_supported, ['client_secret_basic', 'client_secret_post', 'none']);
    assert.equal(meta.authorization_response_iss_parameter_supported, true);
    assert.ok((meta.scopes_supported as string[]).includes(scope));
  });
});

describe('GET /authorize', () => {
  it('hands a valid request to consent-ui with an unguessable handle', async () => {
    const { challenge } = pkcePair();
    const res = await get({ ...valid(), code_challenge: challenge, code_challenge_method: 'S256' });
    assert.equal(res.status, 302);
    const location = new URL(res.headers.get('location')!);
    assert.equal(location.origin, `http://localhost:${system.env.CONSENT_UI_PORT}`);
    assert.equal(location.pathname, '/ui/authorize');
    // The request is sealed into the handle (authenticated encryption): opaque, and nothing stored.
    const handle = location.searchParams.get('handle')!;
    assert.match(handle, /^[A-Za-z0-9_-]{100,}$/);
    assert.ok(!Buffer.from(handle, 'base64url').toString('latin1').includes(valid().state), 'the state cannot be read from the handle');
    assert.deepEqual((await system.db.listCollections({ name: /^authorization_/ }).toArray()).map((c) => c.name).filter((n) => n !== 'authorization_decisions'), []);
  });

  for (const [name, change] of [
    ['an unknown client', { client_id: 'c_nope' }],
    ['an empty client_id', { client_id: '' }],
    ['an unregistered redirect URI', { redirect_uri: 'https://evil.example/cb' }],
  ] as const) {
    it(`shows an HTML error page, never a redirect, for ${name}`, async () => {
      const res = await get({ ...valid(), ...change });
      assert.equal(res.status, 400);
      assert.equal(res.headers.get('location'), null);
      assert.match(res.headers.get('content-type')!, /text\/html/);
      assert.match(res.headers.get('content-security-policy')!, /frame-ancestors 'none'/);
    });
  }

  it('shows an error page for a repeated client_id or redirect_uri', async () => {
    for (const name of ['client_id', 'redirect_uri']) {
      const url = new URL(authorizeUrl(system, valid()));
      url.searchParams.append(name, url.searchParams.get(name)!);
      const res = await fetch(url, { redirect: 'manual' });
      assert.equal(res.status, 400, name);
      assert.equal(res.headers.get('location'), null);
    }
  });

  it('redirects other errors to the client with error, error_description, state and iss', async () => {
    const res = await get({ ...valid(), scope: 'not-allowed' });
    assert.equal(res.status, 302);
    const location = new URL(res.headers.get('location')!);
    assert.equal(`${location.origin}${location.pathname}`, client.redirectUri);
    assert.equal(location.searchParams.get('error'), 'invalid_scope');
    assert.match(location.searchParams.get('error_description')!, /^[\x20-\x7e]+$/);
    assert.equal(location.searchParams.get('state'), 'st-1');
    assert.equal(location.searchParams.get('iss'), system.env.OAUTH_ISSUER);
  });

  it('returns the state exactly as sent', async () => {
    const state = 'a b+c/d=é&x';
    const res = await get({ ...valid(), state, response_type: 'token' });
    assert.equal(new URL(res.headers.get('location')!).searchParams.get('state'), state);
  });

  it('refuses repeated parameters with invalid_request', async () => {
    const url = new URL(authorizeUrl(system, valid()));
    url.searchParams.append('scope', scope);
    const res = await fetch(url, { redirect: 'manual' });
    assert.equal(new URL(res.headers.get('location')!).searchParams.get('error'), 'invalid_request');
  });

  it('ignores unknown parameters', async () => {
    const res = await get({ ...valid(), foo: 'bar' });
    assert.equal(res.status, 302);
    assert.equal(new URL(res.headers.get('location')!).pathname, '/ui/authorize');
  });

  it('refuses PKCE plain', async () => {
    const res = await get({ ...valid(), code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', code_challenge_method: 'plain' });
    assert.equal(new URL(res.headers.get('location')!).searchParams.get('error'), 'invalid_request');
  });
});

describe('health', () => {
  it('answers /healthz and /readyz with NATS and the database reachable', async () => {
    assert.equal((await fetch(`${system.urls.issuer}/healthz`)).status, 200);
    const ready = await fetch(`${system.urls.issuer}/readyz`);
    assert.equal(ready.status, 200);
    assert.deepEqual(((await ready.json()) as { checks: unknown }).checks, { nats: true, mongodb: true });
  });
  it('serves Prometheus metrics', async () => {
    const text = await (await fetch(`${system.urls.issuer}/metrics`)).text();
    assert.match(text, /http_request_duration_seconds_bucket/);
  });
});
