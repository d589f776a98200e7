// Pushed authorization requests (RFC 9126) end to end: a client pushes its authorization
// parameters (with oauth4webapi, authenticated as at /token), sends the browser to /authorize with
// client_id + request_uri only, and gets a code and tokens. The request_uri works once, for the
// client that pushed it, before it expires; --require-par clients cannot skip it. POST /par is
// token-service's (it authenticates clients, with the lockout /token has), and authorize-service takes
// the request over NATS (oauth.authorization.push): audited, and a 503 while it is away.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import * as oauth from 'oauth4webapi';
import { decodeJwt } from 'jose';
import { startSystem, type SeededClient, type SeededUser, type System } from './helpers/system.ts';
import { Browser } from './helpers/browser.ts';
import { authorizeUrl, pkcePair, discoverAuthorizationServer } from './helpers/oauth.ts';
import { pushedRequestSealer, REQUEST_URI_PREFIX } from '../services/authorize-service/pushed-requests.ts';
import { collectAuditEvents, forClient } from './helpers/audit.ts';
import { revokeRequest } from './helpers/token-requests.ts';

const insecure = { [oauth.allowInsecureRequests]: true }; // the test issuer is http://localhost
const KEK = randomBytes(32);
const NATS_REQUEST_TIMEOUT_MS = 1500;
const CLIENT_AUTH_MAX_FAILURES = 3;

let system: System;
let client: SeededClient;
let other: SeededClient;
let parOnly: SeededClient;
let user: SeededUser;
let scope: string;
let as: oauth.AuthorizationServer;

before(async () => {
  system = await startSystem('par', {
    env: {
      OAUTH_KEY_ENCRYPTION_KEY: KEK.toString('base64url'),
      NATS_REQUEST_TIMEOUT_MS: String(NATS_REQUEST_TIMEOUT_MS), CLIENT_AUTH_MAX_FAILURES: String(CLIENT_AUTH_MAX_FAILURES),
    },
  });
  scope = await system.seed.scope('orders', 'Read your orders');
  user = await system.seed.user();
  client = await system.seed.client({ name: 'PAR Client', scopes: [scope] });
  other = await system.seed.client({ name: 'Other Client', scopes: [scope] });
  parOnly = await system.seed.client({ name: 'PAR-only Client', scopes: [scope], requirePar: true });
  as = await discoverAuthorizationServer(system);
});
after(async () => {
  await system?.stop();
});

/** Pushes an authorization request for `who` and returns its request_uri and the PKCE verifier. */
async function push(who: SeededClient, extra: Record<string, string> = {}) {
  const verifier = oauth.generateRandomCodeVerifier();
  const response = await oauth.pushedAuthorizationRequest(as, { client_id: who.clientId }, oauth.ClientSecretBasic(who.clientSecret!), {
    response_type: 'code', redirect_uri: who.redirectUri, scope, state: 'st-par',
    code_challenge: await oauth.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256', ...extra,
  }, insecure);
  const pushed = await oauth.processPushedAuthorizationResponse(as, { client_id: who.clientId }, response);
  return { requestUri: pushed.request_uri, expiresIn: pushed.expires_in, verifier, status: response.status };
}

const authorizeWith = (clientId: string, requestUri: string, extra: Record<string, string> = {}) =>
  fetch(authorizeUrl(system, { client_id: clientId, request_uri: requestUri, ...extra }), { redirect: 'manual' });

async function postPar(form: URLSearchParams, who: SeededClient = client) {
  const res = await fetch(`${system.urls.tokenService}/par`, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      authorization: `Basic ${Buffer.from(`${encodeURIComponent(who.clientId)}:${encodeURIComponent(who.clientSecret!)}`).toString('base64')}`,
    },
    body: form,
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown>, headers: res.headers };
}

/** The valid form with `name` set to `value` instead. */
const replaced = (name: string, value: string) => {
  const form = validForm();
  form.set(name, value);
  return form;
};

const validForm = (extra: [string, string][] = []) => new URLSearchParams([
  ['response_type', 'code'], ['redirect_uri', client.redirectUri], ['scope', scope], ['code_challenge', pkcePair().challenge], ['code_challenge_method', 'S256'], ...extra,
]);

describe('POST /par (RFC 9126) with oauth4webapi', () => {
  it('names the endpoint in the metadata, and PAR is not required of every client', () => {
    assert.equal(as.pushed_authorization_request_endpoint, `${system.urls.tokenService}/par`);
    assert.equal(as.require_pushed_authorization_requests, false);
  });

  it('pushes, authorizes with client_id + request_uri through the real pages, and exchanges the code', async () => {
    const pushed = await push(client);
    assert.equal(pushed.status, 201);
    assert.ok(pushed.requestUri.startsWith(REQUEST_URI_PREFIX));
    assert.ok(pushed.expiresIn > 0 && pushed.expiresIn <= 60);

    const url = new URL(as.authorization_endpoint!);
    // Other query parameters are ignored (RFC 9126 §4): only the pushed ones count.
    url.search = new URLSearchParams({ client_id: client.clientId, request_uri: pushed.requestUri, scope: 'other', redirect_uri: 'https://evil.example.com/' }).toString();
    const browser = new Browser([system.urls.authorizeService, system.urls.consentUi]);
    const login = await browser.navigate(url.toString());
    const consent = await browser.follow(await browser.form(login, 'Sign in').fill('Username', user.username).fill('Password', user.password).submit('Sign in'));
    const callback = await browser.form(consent, 'Allow').submit('Allow');
    assert.ok(callback.location!.startsWith(client.redirectUri));
    const oauthClient = { client_id: client.clientId };
    const params = oauth.validateAuthResponse(as, oauthClient, new URL(callback.location!), 'st-par');
    const tokens = await oauth.processAuthorizationCodeResponse(as, oauthClient, await oauth.authorizationCodeGrantRequest(
      as, oauthClient, oauth.ClientSecretBasic(client.clientSecret!), params, client.redirectUri, pushed.verifier, insecure));
    assert.equal(tokens.scope, scope);
    assert.equal(decodeJwt(tokens.access_token).sub, user.sub);

    // Used once: the same request_uri again is refused on the error page.
    const again = await authorizeWith(client.clientId, pushed.requestUri);
    assert.equal(again.status, 400);
    assert.equal(again.headers.get('location'), null);
    assert.match(again.headers.get('content-type')!, /text\/html/);
  });

  it('carries repeated resource parameters (RFC 8707) through the pushed request: the token is for those resource servers', async () => {
    const [api, files] = [await system.seed.resourceServer([scope]), await system.seed.resourceServer([scope])];
    const owner = await system.seed.user();
    const { verifier, challenge } = pkcePair();
    const pushed = await postPar(new URLSearchParams([
      ['response_type', 'code'], ['redirect_uri', client.redirectUri], ['scope', scope], ['state', 'st-res'],
      ['code_challenge', challenge], ['code_challenge_method', 'S256'], ['resource', api], ['resource', files],
    ]));
    assert.equal(pushed.status, 201, JSON.stringify(pushed.body));
    const browser = new Browser([system.urls.authorizeService, system.urls.consentUi]);
    const login = await browser.navigate(authorizeUrl(system, { client_id: client.clientId, request_uri: String(pushed.body.request_uri) }));
    const consent = await browser.follow(await browser.form(login, 'Sign in').fill('Username', owner.username).fill('Password', owner.password).submit('Sign in'));
    const callback = await browser.form(consent, 'Allow').submit('Allow');
    const oauthClient = { client_id: client.clientId };
    const params = oauth.validateAuthResponse(as, oauthClient, new URL(callback.location!), 'st-res');
    const tokens = await oauth.processAuthorizationCodeResponse(as, oauthClient, await oauth.authorizationCodeGrantRequest(
      as, oauthClient, oauth.ClientSecretBasic(client.clientSecret!), params, client.redirectUri, verifier, insecure));
    assert.deepEqual([decodeJwt(tokens.access_token).aud].flat().sort(), [api, files].sort());
    assert.equal(tokens.scope, scope);
  });

  it('answers a pushed request at once for a signed-in owner with a remembered consent, resources and all, and takes its request_uri once', async () => {
    const api = await system.seed.resourceServer([scope]);
    const owner = await system.seed.user();
    const browser = new Browser([system.urls.authorizeService, system.urls.consentUi]);
    const first = await push(client);
    const login = await browser.navigate(authorizeUrl(system, { client_id: client.clientId, request_uri: first.requestUri }));
    const consent = await browser.follow(await browser.form(login, 'Sign in').fill('Username', owner.username).fill('Password', owner.password).submit('Sign in'));
    await browser.form(consent, 'Allow').check('Remember this decision').submit('Allow');

    const { verifier, challenge } = pkcePair();
    const pushed = await postPar(new URLSearchParams([
      ['response_type', 'code'], ['redirect_uri', client.redirectUri], ['scope', scope], ['state', 'st-at-once'],
      ['code_challenge', challenge], ['code_challenge_method', 'S256'], ['resource', api],
    ]));
    assert.equal(pushed.status, 201, JSON.stringify(pushed.body));
    const requestUri = String(pushed.body.request_uri);
    const answered = await browser.get(authorizeUrl(system, { client_id: client.clientId, request_uri: requestUri }));
    assert.equal(answered.status, 302);
    assert.ok(answered.location!.startsWith(client.redirectUri), `a code from /authorize itself, not ${answered.location}`);
    const oauthClient = { client_id: client.clientId };
    const params = oauth.validateAuthResponse(as, oauthClient, new URL(answered.location!), 'st-at-once');
    const tokens = await oauth.processAuthorizationCodeResponse(as, oauthClient, await oauth.authorizationCodeGrantRequest(
      as, oauthClient, oauth.ClientSecretBasic(client.clientSecret!), params, client.redirectUri, verifier, insecure));
    assert.deepEqual([decodeJwt(tokens.access_token).aud].flat(), [api]);
    assert.equal(decodeJwt(tokens.access_token).sub, owner.sub);

    const again = await browser.get(authorizeUrl(system, { client_id: client.clientId, request_uri: requestUri }));
    assert.equal(again.status, 400, 'the request_uri is taken once, answered at once or not');
    assert.equal(again.location, undefined);
  });

  it('takes a request_uri once even when it is presented concurrently', async () => {
    const { requestUri } = await push(client);
    const answers = await Promise.all(Array.from({ length: 5 }, () => authorizeWith(client.clientId, requestUri)));
    assert.deepEqual(answers.map((r) => r.status).sort(), [302, 400, 400, 400, 400]);
  });

  it('refuses another client\u2019s request_uri, and leaves it usable by its own client', async () => {
    const { requestUri } = await push(client);
    const stolen = await authorizeWith(other.clientId, requestUri);
    assert.equal(stolen.status, 400);
    assert.equal(stolen.headers.get('location'), null);
    const own = await authorizeWith(client.clientId, requestUri);
    assert.equal(own.status, 302);
    assert.match(own.headers.get('location')!, /\/ui\/authorize\?handle=/);
  });

  it('refuses an expired, tampered or foreign request_uri, and one without client_id', async () => {
    const sealer = pushedRequestSealer(KEK);
    const params = { response_type: 'code', client_id: client.clientId, redirect_uri: client.redirectUri, scope, code_challenge: pkcePair().challenge, code_challenge_method: 'S256' };
    const expired = sealer.seal({ id: 'expired-1', clientId: client.clientId, params }, new Date(Date.now() - 1000));
    const foreign = pushedRequestSealer(randomBytes(32)).seal({ id: 'foreign-1', clientId: client.clientId, params }, new Date(Date.now() + 60_000));
    const { requestUri } = await push(client);
    for (const uri of [`${REQUEST_URI_PREFIX}${expired}`, `${REQUEST_URI_PREFIX}${foreign}`, `${requestUri}x`, requestUri.slice(REQUEST_URI_PREFIX.length), 'urn:x']) {
      assert.equal((await authorizeWith(client.clientId, uri)).status, 400, uri.slice(0, 60));
    }
    const noClient = await fetch(authorizeUrl(system, { request_uri: requestUri }), { redirect: 'manual' });
    assert.equal(noClient.status, 400);
  });

  it('--require-par: an authorization request in the query is refused, a pushed one is taken', async () => {
    const { challenge } = pkcePair();
    const direct = await fetch(authorizeUrl(system, {
      response_type: 'code', client_id: parOnly.clientId, redirect_uri: parOnly.redirectUri, scope, state: 's', code_challenge: challenge, code_challenge_method: 'S256',
    }), { redirect: 'manual' });
    assert.equal(direct.status, 302);
    const location = new URL(direct.headers.get('location')!);
    assert.equal(location.searchParams.get('error'), 'invalid_request');
    assert.equal(location.searchParams.get('state'), 's');
    const { requestUri } = await push(parOnly);
    const viaPar = await authorizeWith(parOnly.clientId, requestUri);
    assert.match(viaPar.headers.get('location')!, /\/ui\/authorize\?handle=/);
  });
});

describe('POST /par errors (RFC 9126 §2.3)', () => {
  it('validates the parameters as /authorize does and answers RFC 6749 JSON errors, never storing or echoing', async () => {
    const cases: [string, URLSearchParams, number, string][] = [
      ['request_uri in the body', validForm([['request_uri', `${REQUEST_URI_PREFIX}abc`]]), 400, 'invalid_request'],
      ['an unregistered redirect_uri', replaced('redirect_uri', 'https://evil.example.com/cb'), 400, 'invalid_request'],
      ['a scope the client may not have', replaced('scope', 'admin'), 400, 'invalid_scope'],
      ['an unsupported response type', replaced('response_type', 'token'), 400, 'unsupported_response_type'],
      ['a repeated parameter', validForm([['scope', scope]]), 400, 'invalid_request'],
      ['another client\u2019s client_id', validForm([['client_id', other.clientId]]), 400, 'invalid_request'],
      ['an unregistered resource', validForm([['resource', 'https://unregistered.example.com/']]), 400, 'invalid_target'],
    ];
    for (const [name, form, status, error] of cases) {
      const res = await postPar(form);
      assert.equal(res.status, status, name);
      assert.equal(res.body.error, error, name);
      assert.equal(res.headers.get('cache-control'), 'no-store', name);
    }
  });

  it('authenticates the client as /token does: a wrong secret or none is 401 invalid_client', async () => {
    const wrong = await postPar(validForm(), { ...client, clientSecret: 'wrong-secret' });
    assert.equal(wrong.status, 401);
    assert.equal(wrong.body.error, 'invalid_client');
    assert.ok(wrong.headers.get('www-authenticate'));
    const none = await fetch(`${system.urls.tokenService}/par`, {
      method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: validForm(),
    });
    assert.equal(none.status, 401);
  });

  it('takes client_secret_post, and keeps the secret out of the request_uri', async () => {
    const form = validForm([['client_id', client.clientId], ['client_secret', client.clientSecret!]]);
    const res = await fetch(`${system.urls.tokenService}/par`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: form });
    assert.equal(res.status, 201);
    const { request_uri: requestUri } = (await res.json()) as { request_uri: string };
    const opened = pushedRequestSealer(KEK).open(requestUri.slice(REQUEST_URI_PREFIX.length));
    assert.equal(opened?.payload.clientId, client.clientId);
    assert.ok(!JSON.stringify(opened?.payload).includes(client.clientSecret!));
  });
});

describe('POST /par at token-service, authorize-service behind it (oauth.authorization.push)', () => {
  it('audits oauth.authorization.pushed for the client, with no secret in the event', async () => {
    const audit = await collectAuditEvents(system.nc, forClient(client.clientId));
    try {
      assert.equal((await postPar(validForm())).status, 201);
      const [event] = await audit.waitFor('oauth.authorization.pushed');
      assert.equal(event!.subject, client.clientId);
      assert.equal(event!.data.client_id, client.clientId);
      assert.equal(event!.data.scope, scope);
      assert.ok(!JSON.stringify(event).includes(client.clientSecret!));
    } finally {
      await audit.stop();
    }
  });

  it('shares /token\u2019s client authentication lockout: failures at /par lock the client at /revoke too', async () => {
    const locked = await system.seed.client({ name: 'PAR Locked Client', scopes: [scope] });
    for (let i = 0; i < CLIENT_AUTH_MAX_FAILURES; i++) {
      assert.equal((await postPar(validForm(), { ...locked, clientSecret: 'wrong-secret' })).status, 401);
    }
    assert.ok(await system.db.collection('client_auth_failures').countDocuments({ clientId: locked.clientId }) >= CLIENT_AUTH_MAX_FAILURES);
    const form = validForm();
    form.set('redirect_uri', locked.redirectUri);
    const right = await postPar(form, locked);
    assert.equal(right.status, 401, 'locked: the right secret is refused like a wrong one');
    assert.equal(right.body.error, 'invalid_client');
    assert.equal((await revokeRequest(system, locked, 'some-token')).status, 401, 'and at /revoke, the same lockout');
  });

  it('answers 503 temporarily_unavailable, never a hang, while authorize-service is away; client authentication still refuses first', async () => {
    await system.stopService('authorize-service');
    const started = performance.now();
    const res = await postPar(validForm());
    const ms = performance.now() - started;
    assert.equal(res.status, 503, JSON.stringify(res.body));
    assert.equal(res.body.error, 'temporarily_unavailable');
    assert.equal(res.headers.get('cache-control'), 'no-store');
    assert.ok(res.headers.get('retry-after'));
    assert.ok(ms < NATS_REQUEST_TIMEOUT_MS + 2000, `answered after ${Math.round(ms)} ms`);
    const wrong = await postPar(validForm(), { ...client, clientSecret: 'wrong-secret' });
    assert.equal(wrong.status, 401);
  });
});
