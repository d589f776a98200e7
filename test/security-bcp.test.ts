// RFC 9700 (Best Current Practice for OAuth 2.0 Security) as tests: the index of what this
// authorization server does about each section that applies to it, with at least one concrete
// check per section here, named by its section. Deeper tests of the same rules live elsewhere and
// are named in SECURITY.md; this file adds what they did not cover and does not repeat them.
//
// Sections that need no check here:
//   §3 (attacker model) is the model the checks assume; §4.6 (access token injection) and the
//   client duties of §4.7 concern clients; §4.9.3's "resource server MUST NOT store tokens in
//   plaintext" concerns resource servers (examples/resource-server keeps none).
// Deliberately not done (see SECURITY.md, "Known limitations"):
//   §2.2.1 / §4.10.1 sender-constrained access tokens (DPoP, mTLS): tokens are bearer tokens,
//     restricted instead by audience, scope, a short lifetime and revocation;
//   §2.5 asymmetric client authentication (private_key_jwt, mTLS): client secrets, stored as SHA-256;
//   §4.1.3 variable loopback ports for native apps: the contract keeps exact matching even there;
//   §2.1.1 detecting constant PKCE challenges across transactions.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomToken } from '#shared/crypto.ts';
import { Subjects } from '#shared/nats/subjects.ts';
import { AdminError, createClient } from '../services/admin-cli/reference-data-admin.ts';
import { startSystem, type SeededClient, type SeededUser, type System } from './helpers/system.ts';
import { authorizeUrl, codeViaNats, exchangeCode, pkcePair, tokenRequest } from './helpers/oauth.ts';
import { grantIdOf, refreshRequest } from './helpers/token-requests.ts';
import { createTestSigningKey, mintAccessToken } from './helpers/test-signing-key.ts';
import { Browser, type Page } from './helpers/browser.ts';

let system: System;
let scope: string;
let otherScope: string;
let user: SeededUser;
/** Confidential, refresh tokens, both scopes. */
let client: SeededClient;
/** Another confidential client: the attacker's in code injection. */
let clientB: SeededClient;
/** Public (PKCE, no secret), refresh tokens. */
let publicClient: SeededClient;
/** A native app on a loopback redirect URI. */
let loopbackClient: SeededClient;
/** A client whose redirect URI has an internationalised host name. */
let idnClient: SeededClient;

before(async () => {
  system = await startSystem('securitybcp');
  scope = await system.seed.scope('orders');
  otherScope = await system.seed.scope('billing');
  user = await system.seed.user();
  client = await system.seed.client({ name: 'BCP Shop', scopes: [scope, otherScope], refreshTokens: true });
  clientB = await system.seed.client({ name: 'Other Shop', scopes: [scope], refreshTokens: true });
  publicClient = await system.seed.client({ name: 'BCP SPA', type: 'public', scopes: [scope], refreshTokens: true });
  loopbackClient = await system.seed.client({ name: 'BCP Native', type: 'public', scopes: [scope], redirectUris: ['http://127.0.0.1:8765/callback'] });
  idnClient = await system.seed.client({ name: 'BCP Bücher', scopes: [scope], redirectUris: ['https://bücher.example/cb'] });
});
after(async () => {
  await system?.stop();
});

const get = (params: Record<string, string>, headers: Record<string, string> = {}) => fetch(authorizeUrl(system, params), { redirect: 'manual', headers });
const request = (as: SeededClient, extra: Record<string, string> = {}) => {
  const { challenge } = pkcePair();
  return { response_type: 'code', client_id: as.clientId, redirect_uri: as.redirectUri, scope, state: 'st-1', code_challenge: challenge, code_challenge_method: 'S256', ...extra };
};
const locationOf = (res: Response) => new URL(res.headers.get('location')!);

/** An HTML error page shown to the owner, never a redirect anywhere. */
async function assertErrorPage(res: Response, what: string): Promise<void> {
  assert.equal(res.status, 400, `${what}: status`);
  assert.equal(res.headers.get('location'), null, `${what}: no redirect`);
  assert.match(res.headers.get('content-type') ?? '', /text\/html/, what);
  await res.body?.cancel();
}

async function validate(token: string): Promise<{ active: boolean; allowed: boolean; error?: string }> {
  return (await system.nc.request(Subjects.tokenValidate, JSON.stringify({ token }), { timeout: 5000 })).json();
}

describe('RFC 9700 §2.1 and §4.1: redirect URIs', () => {
  it('§4.1.3 redirect URI exact match: case, ports, paths, percent-encodings, userinfo tricks, IDN and trailing dots each get an error page, never a redirect', async () => {
    const ok = await get(request(client));
    assert.equal(ok.status, 302, 'the registered URI, exactly');
    assert.equal(locationOf(ok).origin, new URL(system.urls.consentUi).origin);

    const registered = new URL(client.redirectUri);
    const host = registered.host;
    const variants = [
      // case
      `https://${host.toUpperCase()}/callback`, `HTTPS://${host}/callback`, `https://${host}/CALLBACK`,
      // ports
      `https://${host}:443/callback`, `https://${host}:8443/callback`,
      // paths
      `https://${host}/callback/`, `https://${host}/callback/.`, `https://${host}/x/../callback`, `https://${host}//callback`, `https://${host}/callback;x`,
      `https://${host}/callback?`, `https://${host}/callback?next=https://evil.example`, `https://${host}/callback#`, `https://${host}/callback#x`,
      // percent-encodings
      `https://${host}/c%61llback`, `https://${host}/callback%2F`, `https://${host}/callback%00`, `https://${host}/callback%20`, `https://${host.replace('.', '%2E')}/callback`,
      // userinfo tricks
      `https://evil.example@${host}/callback`, `https://${host}@evil.example/callback`, `https://${host}:443@evil.example/callback`, `https://${host}%40evil.example/callback`,
      // hosts that only look alike: trailing dot, suffixes, IDN homoglyph, another scheme
      `https://${host}./callback`, `https://${host}.evil.example/callback`, `https://evil-${host}/callback`, `https://${host.replace('c', '\u0441')}/callback`,
      `http://${host}/callback`, ` ${client.redirectUri}`, `${client.redirectUri} `,
    ];
    assert.ok(variants.every((v) => v !== client.redirectUri));
    for (const redirect_uri of variants) await assertErrorPage(await get(request(client, { redirect_uri })), redirect_uri);

    // A native app's loopback URI: no port, host or address-family variation (the contract is stricter than §4.1.3 here).
    assert.equal((await get(request(loopbackClient))).status, 302);
    for (const redirect_uri of ['http://127.0.0.1:9999/callback', 'http://127.0.0.1/callback', 'http://localhost:8765/callback', 'http://[::1]:8765/callback', 'https://127.0.0.1:8765/callback']) {
      await assertErrorPage(await get(request(loopbackClient, { redirect_uri })), redirect_uri);
    }

    // IDN: the registered Unicode form matches; its punycode spelling (what a URL parser makes of it) does not.
    assert.equal((await get(request(idnClient))).status, 302);
    await assertErrorPage(await get(request(idnClient, { redirect_uri: 'https://xn--bcher-kva.example/cb' })), 'punycode');
    await assertErrorPage(await get(request(idnClient, { redirect_uri: 'https://BÜCHER.example/cb' })), 'IDN case');
  });

  it('§2.6 registration refuses redirect URIs over plain http (loopback aside), with userinfo, a fragment or a dangerous scheme', async () => {
    const base = { name: 'Bad', type: 'confidential' as const, scopes: [scope], refreshTokens: false };
    for (const uri of ['http://client.example.com/cb', 'https://user@client.example.com/cb', 'https://client.example.com/cb#x', 'javascript:alert(1)', 'data:text/html,x', 'relative/cb']) {
      await assert.rejects(createClient(system.db, { ...base, redirectUris: [uri] }), AdminError, uri);
    }
    for (const uri of ['https://client.example.com/cb', 'http://127.0.0.1:7000/cb', 'http://[::1]:7000/cb', 'com.example.app:/cb']) {
      assert.ok((await createClient(system.db, { ...base, redirectUris: [uri] })).clientId, uri);
    }
  });
});

describe('RFC 9700 §2.1.1, §4.5, §4.8: PKCE and code injection', () => {
  it('§2.1.1 PKCE: public clients must send an S256 code_challenge, plain is refused, and the metadata says S256', async () => {
    const withoutPkce = { ...request(publicClient) } as Record<string, string>;
    delete withoutPkce.code_challenge;
    delete withoutPkce.code_challenge_method;
    assert.equal(locationOf(await get(withoutPkce)).searchParams.get('error'), 'invalid_request');
    assert.equal(locationOf(await get(request(publicClient, { code_challenge_method: 'plain' }))).searchParams.get('error'), 'invalid_request');
    const noMethod = request(publicClient) as Record<string, string>;
    delete noMethod.code_challenge_method;
    assert.equal(locationOf(await get(noMethod)).searchParams.get('error'), 'invalid_request', 'no method means plain (RFC 7636 §4.3): refused');
    const meta = (await (await fetch(`${system.urls.issuer}/.well-known/oauth-authorization-server`)).json()) as Record<string, unknown>;
    assert.deepEqual(meta.code_challenge_methods_supported, ['S256']);
  });

  it('§2.1.1 / §4.8 PKCE downgrade: a code issued with a challenge is refused without its verifier, and a code issued without one is refused with a verifier', async () => {
    const withChallenge = await codeViaNats(system, client, user, { pkce: true });
    const noVerifier = await exchangeCode(system, client, withChallenge.code, undefined);
    assert.equal(noVerifier.status, 400);
    assert.equal(noVerifier.body.error, 'invalid_grant');

    const withoutChallenge = await codeViaNats(system, client, user, { pkce: false });
    const addedVerifier = await exchangeCode(system, client, withoutChallenge.code, pkcePair().verifier);
    assert.equal(addedVerifier.status, 400);
    assert.equal(addedVerifier.body.error, 'invalid_grant');
  });

  it('§4.5 code injection: a code is refused to another client and with the verifier of another transaction', async () => {
    const victim = await codeViaNats(system, client, user);
    const attackerTransaction = pkcePair();
    const byOtherClient = await exchangeCode(system, { ...clientB, redirectUri: client.redirectUri }, victim.code, victim.verifier);
    assert.equal(byOtherClient.status, 400);
    assert.equal(byOtherClient.body.error, 'invalid_grant');
    const injected = await exchangeCode(system, client, victim.code, attackerTransaction.verifier);
    assert.equal(injected.status, 400);
    assert.equal(injected.body.error, 'invalid_grant');
  });
});

describe('RFC 9700 §4.4: mix-up', () => {
  it('§4.4 mix-up via iss: iss equals the issuer in success, denial and error responses, and the metadata announces it', async () => {
    const approved = await codeViaNats(system, client, user);
    assert.equal(approved.redirectTo.searchParams.get('iss'), system.urls.issuer);
    const denied = await codeViaNats(system, client, user, { decision: 'deny' });
    assert.equal(denied.redirectTo.searchParams.get('error'), 'access_denied');
    assert.equal(denied.redirectTo.searchParams.get('iss'), system.urls.issuer);
    for (const change of [{ scope: 'not-a-scope' }, { response_type: 'token' }, { code_challenge_method: 'plain' }] as Record<string, string>[]) {
      const location = locationOf(await get(request(client, change)));
      assert.ok(location.searchParams.get('error'), JSON.stringify(change));
      assert.equal(location.searchParams.get('iss'), system.urls.issuer, JSON.stringify(change));
    }
    const meta = (await (await fetch(`${system.urls.issuer}/.well-known/oauth-authorization-server`)).json()) as Record<string, unknown>;
    assert.equal(meta.issuer, system.urls.issuer);
    assert.equal(meta.authorization_response_iss_parameter_supported, true);
  });
});

describe('RFC 9700 §4.11: open redirection', () => {
  it('§4.11 open redirector: the authorization endpoint never redirects to an unregistered URI, whatever else is wrong with the request', async () => {
    const evil = 'https://evil.example/cb';
    for (const change of [{}, { response_type: 'token' }, { scope: 'not-a-scope' }, { code_challenge_method: 'plain' }, { client_id: 'c_unknown' }, { client_id: '' }] as Record<string, string>[]) {
      await assertErrorPage(await get(request(client, { ...change, redirect_uri: evil })), JSON.stringify(change));
    }
    const noPkce = request(publicClient, { redirect_uri: evil }) as Record<string, string>;
    delete noPkce.code_challenge;
    await assertErrorPage(await get(noPkce), 'public client without PKCE');
    // No redirect_uri while several are registered: not a guess at one of them.
    const several = await system.seed.client({ scopes: [scope], redirectUris: ['https://a.example.com/cb', 'https://b.example.com/cb'] });
    const none = request(several) as Record<string, string>;
    delete none.redirect_uri;
    await assertErrorPage(await get({ ...none, scope: 'not-a-scope' }), 'missing redirect_uri with several registered');
    // consent-ui has no redirect parameter of its own.
    for (const path of ['/ui/?next=https://evil.example', '/ui/authorize?handle=x&redirect_uri=https://evil.example', '/ui/login?return_to=https://evil.example']) {
      const res = await fetch(`${system.urls.consentUi}${path}`, { redirect: 'manual' });
      assert.ok(res.status === 200 || (res.status >= 400 && res.status < 500), `${path}: ${res.status}`);
      assert.equal(res.headers.get('location'), null, path);
    }
  });
});

/** One owner's visit through every page and redirect, kept for the checks below. */
type Visit = { what: string; page: Page };

describe('RFC 9700 §4.2, §4.7, §4.12, §4.16, §4.17: the pages and redirects a browser sees', () => {
  const visits: Visit[] = [];
  const posts: Visit[] = [];
  const state = `st ${randomToken(6)} +/=?&é`;
  let approvedLocation: URL;
  let rememberedLocation: URL;
  let tamperedConsent: Page;
  let noCsrfConsent: Page;
  let noCsrfLogin: Page;

  before(async () => {
    const browser = new Browser([system.urls.authorizeService, system.urls.consentUi]);
    const see = (what: string, page: Page) => (visits.push({ what, page }), page);
    const post = (what: string, page: Page) => (posts.push({ what, page }), see(what, page));
    const { challenge } = pkcePair();
    const params = { ...request(client), state, code_challenge: challenge };

    see('authorization endpoint error page', await browser.get(authorizeUrl(system, { ...params, client_id: 'c_unknown' })));
    see('authorization error redirect (carries state)', await browser.get(authorizeUrl(system, { ...params, scope: 'not-a-scope' })));
    const handoff = see('hand-off to consent-ui (carries the handle)', await browser.get(authorizeUrl(system, params)));
    const login = see('sign-in page', await browser.follow(handoff));
    noCsrfLogin = await new Browser([system.urls.consentUi]).request(`${system.urls.consentUi}/ui/login`, {
      form: new URLSearchParams({ username: user.username, password: user.password, handle: new URL(login.url).searchParams.get('handle')! }),
    });
    see('sign-in page after a wrong password', await browser.form(login, 'Sign in').fill('Username', user.username).fill('Password', 'wrong password').submit('Sign in'));
    const signedIn = post('sign-in POST', await browser.form(login, 'Sign in').fill('Username', user.username).fill('Password', user.password).submit('Sign in'));
    const consent = see('consent page', await browser.follow(signedIn));
    const form = browser.form(consent, 'Allow');
    noCsrfConsent = await form.submit('Allow', (data) => data.delete('_csrf'));
    tamperedConsent = await form.submit('Allow', (data) => data.set('redirect_uri', 'https://evil.example/cb'));
    const approved = post('consent POST (Location carries the code)', await form.check('Remember this decision').submit('Allow'));
    approvedLocation = new URL(approved.location!);
    // Remembered: the next request goes straight back to the client with a code, from a GET.
    const again = await browser.follow(await browser.get(authorizeUrl(system, { ...request(client), state: 'st-2' })));
    see('remembered consent redirect (Location carries the code)', again);
    rememberedLocation = new URL(again.location!);
    const authorizations = see('"Your authorizations" page', await browser.navigate(`${system.urls.consentUi}/ui/authorizations`));
    const revoked = post('revoke POST', await browser.form(authorizations, 'Revoke').submit('Revoke'));
    see('"Your authorizations" page after revoking', await browser.follow(revoked));
    see('consent-ui error page', await browser.get(`${system.urls.consentUi}/ui/authorize?handle=${randomToken(32)}`));
    see('consent-ui not-found page', await browser.get(`${system.urls.consentUi}/ui/no-such-page`));
    const signOutPage = await browser.navigate(`${system.urls.consentUi}/ui/authorizations`);
    post('sign-out POST', await browser.form(signOutPage, 'Sign out').submit('Sign out'));
  });

  it('§4.7 CSRF: the state comes back exactly as sent, and forms without the anti-CSRF token are refused', () => {
    assert.equal(approvedLocation.searchParams.get('state'), state);
    assert.equal(rememberedLocation.searchParams.get('state'), 'st-2');
    assert.equal(noCsrfLogin.status, 403, 'sign-in without the token');
    assert.equal(noCsrfConsent.status, 403, 'consent without the token');
    assert.equal(noCsrfConsent.location, undefined);
  });

  it('§4.11 open redirector: a consent form with an added redirect_uri redirects nowhere; codes go only to the registered URI', () => {
    assert.ok(tamperedConsent.status >= 400 && tamperedConsent.status < 500, `refused (${tamperedConsent.status})`);
    assert.equal(tamperedConsent.location, undefined);
    for (const location of [approvedLocation, rememberedLocation]) {
      assert.equal(`${location.origin}${location.pathname}`, client.redirectUri);
      assert.ok(location.searchParams.get('code'));
    }
  });

  it('§4.12 307 redirect: every POST that redirects answers 303, never 307 or 308', () => {
    assert.deepEqual(posts.map((p) => p.what), ['sign-in POST', 'consent POST (Location carries the code)', 'revoke POST', 'sign-out POST']);
    for (const { what, page } of posts) assert.equal(page.status, 303, what);
    for (const { what, page } of visits) assert.ok(page.status !== 307 && page.status !== 308, what);
  });

  it('§4.2 credential leakage via Referer: Referrer-Policy no-referrer on every page and on every redirect carrying a code, state or handle, and no third-party content', () => {
    assert.ok(visits.length >= 12);
    for (const { what, page } of visits) {
      assert.equal(page.headers.get('referrer-policy'), 'no-referrer', what);
      if (!(page.headers.get('content-type') ?? '').includes('text/html')) continue;
      assert.match(page.headers.get('content-security-policy') ?? '', /default-src 'none'/, `${what}: nothing loads by default`);
      const urls = page.document.querySelectorAll('[src], [href], [action]').map((e) => e.getAttribute('src') ?? e.getAttribute('href') ?? e.getAttribute('action')!);
      for (const url of urls) {
        const target = new URL(url, page.url);
        // Links, resources and form actions stay on the page's origin (a decision reaches the client only by the 303).
        assert.ok(target.origin === new URL(page.url).origin, `${what}: ${url} stays on the page's own origin`);
      }
    }
  });

  it('§4.16 clickjacking: every page forbids framing with X-Frame-Options DENY and CSP frame-ancestors \'none\'', () => {
    const pages = visits.filter(({ page }) => (page.headers.get('content-type') ?? '').includes('text/html'));
    assert.ok(pages.length >= 8, `pages seen: ${pages.map((p) => p.what).join(', ')}`);
    for (const { what, page } of pages) {
      assert.equal(page.headers.get('x-frame-options'), 'DENY', what);
      assert.match(page.headers.get('content-security-policy') ?? '', /frame-ancestors 'none'/, what);
    }
  });

  it('§4.17 in-browser communication: the response is an HTTP redirect (no postMessage page), whatever response_mode asks', async () => {
    const approved = posts.find((p) => p.what.startsWith('consent POST'))!.page;
    assert.equal(approved.html.includes('postMessage'), false);
    for (const mode of ['web_message', 'form_post', 'fragment']) {
      const res = await get(request(client, { response_mode: mode }));
      assert.equal(res.status, 302, mode);
      assert.equal(locationOf(res).pathname, '/ui/authorize', `${mode}: the usual hand-off`);
    }
  });
});

describe('RFC 9700 §4.3, §4.14, §2.2.2: codes and refresh tokens', () => {
  it('§4.3 browser history: a code works once, a replay is refused, and token responses are not cached', async () => {
    const { code, verifier } = await codeViaNats(system, client, user);
    const first = await exchangeCode(system, client, code, verifier);
    assert.equal(first.status, 200);
    assert.equal(first.headers.get('cache-control'), 'no-store');
    assert.equal(first.headers.get('pragma'), 'no-cache');
    const replay = await exchangeCode(system, client, code, verifier);
    assert.equal(replay.status, 400);
    assert.equal(replay.body.error, 'invalid_grant');
  });

  it('§4.14 / §2.2.2 refresh token protection: a public client\u2019s refresh token rotates, reuse revokes the family, and a forged token naming a real grant revokes nothing', async () => {
    const { code, verifier } = await codeViaNats(system, publicClient, user);
    const issued = await tokenRequest(system, { grant_type: 'authorization_code', code, redirect_uri: publicClient.redirectUri, code_verifier: verifier }, { clientId: publicClient.clientId });
    assert.equal(issued.status, 200, JSON.stringify(issued.body));
    const first = issued.body.refresh_token as string;
    const second = await refreshRequest(system, publicClient, first);
    assert.equal(second.status, 200);
    assert.notEqual(second.body.refresh_token, first, 'rotated');

    // The grant id is readable in every access token (gid); the rest of a refresh token is not guessable.
    const forged = `${grantIdOf(issued.body.access_token as string)}.${randomToken(32)}`;
    assert.equal((await refreshRequest(system, publicClient, forged)).body.error, 'invalid_grant');
    const third = await refreshRequest(system, publicClient, second.body.refresh_token as string);
    assert.equal(third.status, 200, 'a forged token did not end the grant');

    // Bound to the scope the owner consented to.
    assert.equal((await refreshRequest(system, publicClient, third.body.refresh_token as string, otherScope)).body.error, 'invalid_scope');

    const reused = await refreshRequest(system, publicClient, first);
    assert.equal(reused.body.error, 'invalid_grant');
    assert.equal((await refreshRequest(system, publicClient, third.body.refresh_token as string)).body.error, 'invalid_grant', 'the whole family ended');
    const deadline = Date.now() + 3000;
    while ((await validate(third.body.access_token as string)).active) {
      assert.ok(Date.now() < deadline, 'the family\u2019s access tokens turn inactive');
      await new Promise((r) => setTimeout(r, 50));
    }
  });
});

describe('RFC 9700 §2.3, §4.10, §4.15: what a token allows', () => {
  it('§2.3 / §4.10.2 access token privilege restriction: aud and the granted scope in every token, narrower on request, and another audience refused', async () => {
    const { code, verifier } = await codeViaNats(system, client, user, { scopes: [scope, otherScope] });
    const tokens = await exchangeCode(system, client, code, verifier);
    const claims = JSON.parse(Buffer.from((tokens.body.access_token as string).split('.')[1]!, 'base64url').toString()) as Record<string, unknown>;
    assert.equal(claims.aud, system.urls.issuer, 'audience-restricted (ACCESS_TOKEN_AUDIENCE, the issuer by default)');
    assert.equal(claims.scope, `${scope} ${otherScope}`);
    const narrower = await refreshRequest(system, client, tokens.body.refresh_token as string, scope);
    assert.equal(narrower.body.scope, scope);
    const narrowClaims = JSON.parse(Buffer.from((narrower.body.access_token as string).split('.')[1]!, 'base64url').toString()) as Record<string, unknown>;
    assert.equal(narrowClaims.scope, scope);

    const key = await createTestSigningKey(system.db, system.nc);
    const forUs = await mintAccessToken(key, { issuer: system.urls.issuer });
    const forOthers = await mintAccessToken(key, { issuer: system.urls.issuer, audience: 'https://other-resource.example' });
    const deadline = Date.now() + 3000;
    while (!(await validate(forUs)).active) {
      assert.ok(Date.now() < deadline, 'validation-service learned the test key');
      await new Promise((r) => setTimeout(r, 50));
    }
    const refused = await validate(forOthers);
    assert.equal(refused.active, false);
    assert.equal(refused.error, 'invalid_token');
  });

  it('§4.15 client impersonating resource owner: client ids and subjects come from separate generated namespaces; a client\u2019s own token (client credentials) names the client, never an owner', async () => {
    assert.match(client.clientId, /^c_[A-Za-z0-9_-]+$/);
    assert.match(user.sub, /^u_[A-Za-z0-9_-]+$/);
    const { code, verifier } = await codeViaNats(system, client, user);
    const claims = JSON.parse(Buffer.from(((await exchangeCode(system, client, code, verifier)).body.access_token as string).split('.')[1]!, 'base64url').toString()) as Record<string, unknown>;
    assert.equal(claims.sub, user.sub);
    assert.equal(claims.client_id, client.clientId);
    // A client not registered for client credentials gets no token of its own.
    const refused = await tokenRequest(system, { grant_type: 'client_credentials', scope }, { clientId: client.clientId, clientSecret: client.clientSecret! });
    assert.equal(refused.body.error, 'unauthorized_client');
    // One that is gets `sub` = its client_id (c_…, never a user's u_…); validation names no owner (test/client-credentials.test.ts).
    const machine = await system.seed.client({ scopes: [scope], grantTypes: ['client_credentials'], redirectUris: [], refreshTokens: false });
    const own = await tokenRequest(system, { grant_type: 'client_credentials', scope }, { clientId: machine.clientId, clientSecret: machine.clientSecret! });
    assert.equal(own.status, 200, JSON.stringify(own.body));
    const ownClaims = JSON.parse(Buffer.from((own.body.access_token as string).split('.')[1]!, 'base64url').toString()) as Record<string, unknown>;
    assert.equal(ownClaims.sub, machine.clientId);
    assert.match(String(ownClaims.sub), /^c_/);
  });
});

describe('RFC 9700 §2.1.2, §2.4, §2.5, §2.6, §4.13: grants, client authentication, metadata, proxies', () => {
  it('§2.1.2 / §2.4 no implicit or password grant: response_type=token and grant_type=password are refused, and the metadata offers neither', async () => {
    for (const responseType of ['token', 'code token', 'id_token token']) {
      const location = locationOf(await get(request(client, { response_type: responseType })));
      assert.equal(location.searchParams.get('error'), 'unsupported_response_type', responseType);
      assert.equal(location.hash, '', 'no fragment');
      assert.equal(location.searchParams.get('access_token'), null);
    }
    const password = await tokenRequest(system, { grant_type: 'password', username: user.username, password: user.password, scope }, { clientId: client.clientId, clientSecret: client.clientSecret! });
    assert.equal(password.status, 400);
    assert.equal(password.body.error, 'unsupported_grant_type');
    assert.equal(password.body.access_token, undefined);
    const meta = (await (await fetch(`${system.urls.issuer}/.well-known/oauth-authorization-server`)).json()) as Record<string, unknown>;
    assert.deepEqual(meta.response_types_supported, ['code']);
    assert.deepEqual(meta.grant_types_supported, ['authorization_code', 'refresh_token', 'client_credentials']);
  });

  it('§2.5 client authentication: a confidential client must authenticate at the token endpoint, and credentials in the URL do not count', async () => {
    const { code, verifier } = await codeViaNats(system, client, user);
    const form = { grant_type: 'authorization_code', code, redirect_uri: client.redirectUri, code_verifier: verifier };
    const unauthenticated = await tokenRequest(system, form, { clientId: client.clientId });
    assert.equal(unauthenticated.status, 401);
    assert.equal(unauthenticated.body.error, 'invalid_client');
    assert.match(unauthenticated.headers.get('www-authenticate') ?? '', /^Basic/);
    const query = new URLSearchParams({ client_id: client.clientId, client_secret: client.clientSecret! });
    const inUrl = await fetch(`${system.urls.tokenService}/token?${query}`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(form) });
    assert.equal(inUrl.status, 401, 'RFC 6749 §2.3.1: credentials only in the body or the Authorization header');
    const authenticated = await exchangeCode(system, client, code, verifier);
    assert.equal(authenticated.status, 200, 'the code was not spent by the refused attempts');
  });

  it('§2.6 metadata and CORS: the metadata is published (and may be read cross-origin), the authorization endpoint never answers CORS', async () => {
    const meta = await fetch(`${system.urls.issuer}/.well-known/oauth-authorization-server`, { headers: { origin: 'https://spa.example' } });
    assert.equal(meta.status, 200);
    assert.equal(meta.headers.get('access-control-allow-origin'), '*');
    await meta.body?.cancel();
    for (const res of [
      await get(request(client), { origin: 'https://spa.example' }),
      await fetch(authorizeUrl(system, request(client)), { method: 'OPTIONS', headers: { origin: 'https://spa.example', 'access-control-request-method': 'GET' } }),
    ]) {
      assert.equal(res.headers.get('access-control-allow-origin'), null);
      assert.equal(res.headers.get('access-control-allow-credentials'), null);
      await res.body?.cancel();
    }
  });

  it('§4.13 TLS terminating reverse proxies: without TRUST_PROXY, X-Forwarded-* headers change no URL the server hands out', async () => {
    const forged = { 'x-forwarded-host': 'evil.example', 'x-forwarded-proto': 'https', 'x-forwarded-for': '203.0.113.9', forwarded: 'host=evil.example;proto=https' };
    const meta = (await (await fetch(`${system.urls.issuer}/.well-known/oauth-authorization-server`, { headers: forged })).json()) as Record<string, string>;
    assert.equal(meta.issuer, system.urls.issuer);
    assert.ok(Object.values(meta).filter((v) => typeof v === 'string' && v.startsWith('http')).every((v) => !v.includes('evil.example')));
    const handoff = await get(request(client), forged);
    assert.equal(locationOf(handoff).origin, new URL(system.urls.consentUi).origin);
    const error = await get(request(client, { scope: 'not-a-scope' }), forged);
    assert.equal(locationOf(error).searchParams.get('iss'), system.urls.issuer);
  });
});
