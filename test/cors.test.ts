// CORS (CONTRACT "More of the standards"): the metadata, /jwks.json, /token and /revoke answer
// preflights and requests from any origin without credentials (Access-Control-Allow-Origin: *, no
// Allow-Credentials), so browser apps can use them; the authorization endpoint, consent-ui's pages
// and introspection get no CORS header at all, and a preflight there is not answered as one.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startSystem, type SeededClient, type System } from './helpers/system.ts';

let system: System;
let client: SeededClient;
const ORIGIN = 'https://spa.example.net';

before(async () => {
  system = await startSystem('cors', { services: ['authorize-service', 'consent-ui', 'token-service'] });
  const scope = await system.seed.scope('photos');
  client = await system.seed.client({ scopes: [scope], type: 'public', refreshTokens: true });
});
after(() => system?.stop());

const preflight = async (url: string, method: string, headers = 'content-type') => drained(await
  fetch(url, { method: 'OPTIONS', headers: { origin: ORIGIN, 'access-control-request-method': method, 'access-control-request-headers': headers } }));

/** Reads the body, so that no response is left half-read on a keep-alive connection when the services stop. */
const drained = async (res: Response): Promise<Response> => {
  await res.arrayBuffer();
  return res;
};

function assertOpen(res: Response, what: string): void {
  assert.equal(res.headers.get('access-control-allow-origin'), '*', what);
  assert.equal(res.headers.get('access-control-allow-credentials'), null, `${what}: never with credentials`);
}

function assertNoCors(res: Response, what: string): void {
  for (const [name] of res.headers) assert.ok(!name.startsWith('access-control-'), `${what}: ${name}`);
}

describe('CORS on the public endpoints', () => {
  it('answers preflights for the metadata, the key set, the token and revocation endpoints', async () => {
    const endpoints: [string, string][] = [
      [`${system.urls.issuer}/.well-known/oauth-authorization-server`, 'GET'],
      [`${system.urls.tokenService}/jwks.json`, 'GET'],
      [`${system.urls.tokenService}/token`, 'POST'],
      [`${system.urls.tokenService}/revoke`, 'POST'],
    ];
    for (const [url, method] of endpoints) {
      const res = await preflight(url, method, 'content-type, dpop');
      assert.equal(res.status, 204, url);
      assertOpen(res, url);
      assert.match(res.headers.get('access-control-allow-methods') ?? '', new RegExp(method), url);
      assert.match((res.headers.get('access-control-allow-headers') ?? '').toLowerCase(), /content-type/, url);
      assert.match((res.headers.get('access-control-allow-headers') ?? '').toLowerCase(), /dpop/, url);
    }
  });

  it('adds the headers to actual requests from any origin, answers and errors alike', async () => {
    const metadata = await drained(await fetch(`${system.urls.issuer}/.well-known/oauth-authorization-server`, { headers: { origin: ORIGIN } }));
    assert.equal(metadata.status, 200);
    assertOpen(metadata, 'metadata');
    const jwks = await drained(await fetch(`${system.urls.tokenService}/jwks.json`, { headers: { origin: 'null' } }));
    assert.equal(jwks.status, 200);
    assertOpen(jwks, 'jwks');
    // A browser app's token request: a public client's error is readable, and the 401 challenge is exposed.
    const token = await fetch(`${system.urls.tokenService}/token`, {
      method: 'POST', headers: { origin: ORIGIN, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: 'nope', client_id: client.clientId }),
    });
    assert.equal(token.status, 400);
    assert.equal(((await token.json()) as { error: string }).error, 'invalid_grant');
    assertOpen(token, 'token');
    assert.equal(token.headers.get('cache-control'), 'no-store');
    const revoke = await drained(await fetch(`${system.urls.tokenService}/revoke`, {
      method: 'POST', headers: { origin: ORIGIN, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ token: 'unknown', client_id: client.clientId }),
    }));
    assert.equal(revoke.status, 200);
    assertOpen(revoke, 'revoke');
    const unauthenticated = await drained(await fetch(`${system.urls.tokenService}/token`, {
      method: 'POST', headers: { origin: ORIGIN, 'content-type': 'application/x-www-form-urlencoded', authorization: 'Basic eDp5' },
      body: new URLSearchParams({ grant_type: 'client_credentials' }),
    }));
    assert.equal(unauthenticated.status, 401);
    assertOpen(unauthenticated, 'token 401');
    assert.match((unauthenticated.headers.get('access-control-expose-headers') ?? '').toLowerCase(), /www-authenticate/);
  });

  it('gives the authorization endpoint, consent-ui and introspection no CORS headers, and answers no preflight there', async () => {
    const others = [
      `${system.urls.authorizeService}/authorize?client_id=${client.clientId}`,
      `${system.urls.consentUi}/ui/login`,
      `${system.urls.tokenService}/introspect`,
    ];
    for (const url of others) {
      const res = await preflight(url, 'POST');
      assert.notEqual(res.status, 204, url);
      assertNoCors(res, `preflight ${url}`);
    }
    const authorize = await drained(await fetch(others[0]!, { headers: { origin: ORIGIN }, redirect: 'manual' }));
    assertNoCors(authorize, 'authorize');
    const page = await drained(await fetch(others[1]!, { headers: { origin: ORIGIN }, redirect: 'manual' }));
    assertNoCors(page, 'consent-ui');
    const introspect = await drained(await fetch(others[2]!, {
      method: 'POST', headers: { origin: ORIGIN, 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ token: 'x' }),
    }));
    assert.equal(introspect.status, 401);
    assertNoCors(introspect, 'introspect');
  });
});

describe('OPTIONS that is not a preflight', () => {
  it('is an unknown route on the public endpoints too (no Origin or no requested method): 404 JSON, no CORS headers', async () => {
    for (const headers of [{}, { origin: ORIGIN }, { 'access-control-request-method': 'POST' }] as Record<string, string>[]) {
      const res = await fetch(`${system.urls.tokenService}/token`, { method: 'OPTIONS', headers });
      assert.equal(res.status, 404, JSON.stringify(headers));
      assert.equal(((await res.json()) as { error: string }).error, 'not_found');
      assertNoCors(res, JSON.stringify(headers));
    }
  });
});

describe('deploy/Caddyfile', () => {
  it('passes OPTIONS through to the services on the CORS routes (path matchers only, no method matcher)', async () => {
    const { readFile } = await import('node:fs/promises');
    const caddyfile = await readFile(new URL('../deploy/Caddyfile', import.meta.url), 'utf8');
    assert.doesNotMatch(caddyfile, /^\s*method\b/m, 'no route is limited to some methods');
    for (const path of ['/.well-known/oauth-authorization-server', '/jwks.json', '/token', '/revoke']) {
      assert.match(caddyfile, new RegExp(`^\\s*@\\w+ path .*${path.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}(\\s|$)`, 'm'), path);
    }
  });
});
