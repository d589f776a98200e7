// Resource indicators (RFC 8707) end to end: a client names resource servers at the authorization
// and token endpoints (with oauth4webapi, as a real client does), the access token's aud is the
// resource(s) and its scope only what they accept, token requests narrow but never widen, and a
// resource server checks the audience over NATS (oauth.token.validate {"audience"}).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as oauth from 'oauth4webapi';
import { decodeJwt } from 'jose';
import { startSystem, type SeededClient, type SeededUser, type System } from './helpers/system.ts';
import { Browser } from './helpers/browser.ts';
import { collectAuditEvents, forClient, type AuditCollector } from './helpers/audit.ts';
import { authorizeUrl, codeViaNats, pkcePair, tokenRequest, discoverAuthorizationServer } from './helpers/oauth.ts';
import { Subjects } from '#shared/nats/subjects.ts';

const insecure = { [oauth.allowInsecureRequests]: true }; // the test issuer is http://localhost

let system: System;
let client: SeededClient;
let user: SeededUser;
let orders: string;
let files: string;
let ordersApi: string;
let filesApi: string;
let audit: AuditCollector;

before(async () => {
  system = await startSystem('resource-indicators');
  orders = await system.seed.scope('orders', 'Read your orders');
  files = await system.seed.scope('files', 'Read your files');
  user = await system.seed.user();
  client = await system.seed.client({ name: 'Resource Client', scopes: [orders, files], refreshTokens: true });
  ordersApi = await system.seed.resourceServer([orders]);
  filesApi = await system.seed.resourceServer([files]);
  audit = await collectAuditEvents(system.nc, forClient(client.clientId));
});
after(async () => {
  await audit?.stop();
  await system?.stop();
});

const validate = async (request: Record<string, unknown>) =>
  (await system.nc.request(Subjects.tokenValidate, JSON.stringify(request), { timeout: 3000 })).json<Record<string, unknown>>();

const resources = (...uris: string[]): [string, string][] => uris.map((uri) => ['resource', uri]);

describe('resource indicators with oauth4webapi', () => {
  it('authorizes two resources, issues a token for one (aud, cut scope), refreshes narrower and whole, and validates the audience', async () => {
    const as = await discoverAuthorizationServer(system);
    const oauthClient: oauth.Client = { client_id: client.clientId };
    const clientAuth = oauth.ClientSecretBasic(client.clientSecret!);

    // 1. The authorization URL names both resource servers; the consent page shows them.
    const verifier = oauth.generateRandomCodeVerifier();
    const state = oauth.generateRandomState();
    const url = new URL(as.authorization_endpoint!);
    url.search = new URLSearchParams([
      ['response_type', 'code'], ['client_id', client.clientId], ['redirect_uri', client.redirectUri], ['scope', `${orders} ${files}`], ['state', state],
      ['code_challenge', await oauth.calculatePKCECodeChallenge(verifier)], ['code_challenge_method', 'S256'], ...resources(ordersApi, filesApi),
    ]).toString();
    const browser = new Browser([system.urls.authorizeService, system.urls.consentUi]);
    const login = await browser.navigate(url.toString());
    const consent = await browser.follow(await browser.form(login, 'Sign in').fill('Username', user.username).fill('Password', user.password).submit('Sign in'));
    assert.ok(consent.html.includes(ordersApi) && consent.html.includes(filesApi), 'the consent page lists the resources');
    const callback = await browser.form(consent, 'Allow').submit('Allow');
    const params = oauth.validateAuthResponse(as, oauthClient, new URL(callback.location!), state);

    // 2. The token request narrows to the orders API: aud is it, scope only what it accepts.
    const tokens = await oauth.processAuthorizationCodeResponse(as, oauthClient, await oauth.authorizationCodeGrantRequest(
      as, oauthClient, clientAuth, params, client.redirectUri, verifier, { ...insecure, additionalParameters: resources(ordersApi) }));
    assert.equal(tokens.scope, orders);
    const claims = await oauth.validateJwtAccessToken(as, new Request(`${ordersApi}orders/42`, { headers: { authorization: `Bearer ${tokens.access_token}` } }), ordersApi, insecure);
    assert.equal(claims.aud, ordersApi);
    assert.equal(claims.scope, orders);

    // 3. The resource server asks with its own URI as audience; another resource server's is refused.
    const good = await validate({ token: tokens.access_token, audience: ordersApi, scopes: [orders] });
    assert.equal(good.active, true);
    assert.equal(good.allowed, true);
    const bad = await validate({ token: tokens.access_token, audience: filesApi });
    assert.deepEqual([bad.active, bad.allowed, bad.error], [true, false, 'invalid_token']);

    // Introspection (RFC 7662) verifies it as validation does: active, with its aud.
    const introspected = await oauth.processIntrospectionResponse(as, oauthClient,
      await oauth.introspectionRequest(as, oauthClient, clientAuth, tokens.access_token, insecure));
    assert.equal(introspected.active, true);
    assert.equal(introspected.aud, ordersApi);

    // 4. Refresh narrowed to the files API, then with no resource: every authorized resource again.
    const narrowed = await oauth.processRefreshTokenResponse(as, oauthClient, await oauth.refreshTokenGrantRequest(
      as, oauthClient, clientAuth, tokens.refresh_token!, { ...insecure, additionalParameters: resources(filesApi) }));
    assert.equal(narrowed.scope, files);
    assert.equal(decodeJwt(narrowed.access_token).aud, filesApi);
    const whole = await oauth.processRefreshTokenResponse(as, oauthClient,
      await oauth.refreshTokenGrantRequest(as, oauthClient, clientAuth, narrowed.refresh_token!, insecure));
    assert.deepEqual(decodeJwt(whole.access_token).aud, [ordersApi, filesApi]);
    assert.deepEqual(whole.scope?.split(' ').sort(), [orders, files].sort());
    assert.equal((await validate({ token: whole.access_token, audience: filesApi })).allowed, true);

    // 5. The issuance was audited with the resources, and no event holds a token.
    const [issued] = await audit.waitFor('oauth.token.issued');
    assert.deepEqual(issued!.data.resource, [ordersApi]);
    assert.ok(!JSON.stringify(audit.events).includes(tokens.access_token));
  });
});

describe('resource indicators: invalid_target', () => {
  it('redirects invalid_target from /authorize for an unregistered or malformed resource, with state and iss', async () => {
    for (const resource of ['https://unregistered.example.com/', 'not-a-uri', `${ordersApi}#fragment`]) {
      const { challenge } = pkcePair();
      const res = await fetch(authorizeUrl(system, {
        response_type: 'code', client_id: client.clientId, redirect_uri: client.redirectUri, scope: orders, state: 'st-1',
        code_challenge: challenge, code_challenge_method: 'S256', resource,
      }), { redirect: 'manual' });
      assert.equal(res.status, 302, resource);
      const location = new URL(res.headers.get('location')!);
      assert.equal(`${location.origin}${location.pathname}`, client.redirectUri);
      assert.equal(location.searchParams.get('error'), 'invalid_target');
      assert.equal(location.searchParams.get('state'), 'st-1');
      assert.equal(location.searchParams.get('iss'), system.urls.issuer);
      assert.ok(!location.searchParams.get('error_description')!.includes(resource), 'the input is not echoed');
    }
  });

  it('refuses at /token a resource beyond the authorization, or unregistered, as invalid_target and keeps the code usable', async () => {
    const { code, verifier } = await codeViaNatsWithResources([ordersApi]);
    const exchange = (extra: [string, string][]) => rawTokenRequest([
      ['grant_type', 'authorization_code'], ['code', code], ['redirect_uri', client.redirectUri], ['code_verifier', verifier], ...extra,
    ]);
    for (const extra of [resources(filesApi), resources(ordersApi, filesApi), resources('https://unregistered.example.com/'), resources('relative')]) {
      const res = await exchange(extra);
      assert.equal(res.status, 400);
      assert.equal(res.body.error, 'invalid_target');
      assert.equal(res.headers.get('cache-control'), 'no-store');
    }
    const ok = await exchange([]);
    assert.equal(ok.status, 200, JSON.stringify(ok.body));
    assert.equal(decodeJwt(ok.body.access_token as string).aud, ordersApi);
    assert.equal(ok.body.scope, orders);
  });

  it('keeps the default audience without resource, and may name a resource at /token when the authorization named none', async () => {
    const plain = await codeViaNats(system, client, user, { scopes: [orders, files] });
    const res = await rawTokenRequest([
      ['grant_type', 'authorization_code'], ['code', plain.code], ['redirect_uri', client.redirectUri], ['code_verifier', plain.verifier], ['resource', filesApi],
    ]);
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.equal(decodeJwt(res.body.access_token as string).aud, filesApi);
    assert.equal(res.body.scope, files);
    const refreshed = await tokenRequest(system, { grant_type: 'refresh_token', refresh_token: res.body.refresh_token as string },
      { clientId: client.clientId, clientSecret: client.clientSecret! });
    assert.equal(decodeJwt(refreshed.body.access_token as string).aud, system.urls.issuer, 'without resource, aud as before');
    const validation = await validate({ token: refreshed.body.access_token as string, audience: filesApi });
    assert.equal(validation.error, 'invalid_token');
  });
});

/** An authorization request naming `uris` as resources, decided over NATS as consent-ui would. */
async function codeViaNatsWithResources(uris: string[]) {
  const { verifier, challenge } = pkcePair();
  const query = new URLSearchParams([
    ['response_type', 'code'], ['client_id', client.clientId], ['redirect_uri', client.redirectUri], ['scope', `${orders} ${files}`], ['state', 's'],
    ['code_challenge', challenge], ['code_challenge_method', 'S256'], ...resources(...uris),
  ]);
  const res = await fetch(`${system.urls.authorizeService}/authorize?${query}`, { redirect: 'manual' });
  const handle = new URL(res.headers.get('location')!).searchParams.get('handle');
  assert.ok(handle, `authorize answered ${res.status} ${res.headers.get('location')}`);
  const reply = await system.nc.request(Subjects.authorizationDecide, JSON.stringify({
    handle, decision: 'approve', sub: user.sub, username: user.username, auth_time: Math.floor(Date.now() / 1000),
  }), { timeout: 5000 });
  const redirectTo = new URL(reply.json<{ redirect_to: string }>().redirect_to);
  return { code: redirectTo.searchParams.get('code')!, verifier };
}

/** A token request with repeated parameters, authenticated with client_secret_basic. */
async function rawTokenRequest(form: [string, string][]) {
  const res = await fetch(`${system.urls.tokenService}/token`, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      authorization: `Basic ${Buffer.from(`${encodeURIComponent(client.clientId)}:${encodeURIComponent(client.clientSecret!)}`).toString('base64')}`,
    },
    body: new URLSearchParams(form),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown>, headers: res.headers };
}
