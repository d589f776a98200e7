// The authorization code flow through the pages, as a browser drives it: authorize-service hands
// the browser to consent-ui, the owner signs in and decides, and the browser is sent back to the
// client's redirect URI. Asserts the wire (status, headers, pages), the state and the events.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { hash } from '@node-rs/argon2';
import { sha256 } from '#shared/crypto.ts';
import { verifyPassword } from '#shared/password.ts';
import { startSystem, type SeededClient, type SeededUser, type ServiceName, type System } from './helpers/system.ts';
import { authorizeUrl, exchangeCode, pkcePair, tokenRequest } from './helpers/oauth.ts';
import { collectAuditEvents, forClient } from './helpers/audit.ts';
import { Browser, type Page } from './helpers/browser.ts';

const hasTokenService = existsSync(new URL('../services/token-service/main.ts', import.meta.url));
const services: ServiceName[] = ['authorize-service', 'consent-ui', ...(hasTokenService ? ['token-service' as const] : [])];

const pageText = (page: Page) => page.document.querySelector('body')?.text.replace(/\s+/g, ' ').trim() ?? '';

describe('authorization code flow through consent-ui', () => {
  let system: System;
  let client: SeededClient;
  let clientName: string;
  let user: SeededUser;
  let scopes: { orders: string; profile: string; payments: string };

  before(async () => {
    system = await startSystem('authcodeflow', { services });
    scopes = {
      orders: await system.seed.scope('orders', 'Read your order history'),
      profile: await system.seed.scope('profile', 'See your name and e-mail address'),
      payments: await system.seed.scope('payments', 'Make payments <for you> & "others"'),
    };
    clientName = `Flow Shop ${Math.random().toString(36).slice(2, 8)}`;
    client = await system.seed.client({ name: clientName, scopes: Object.values(scopes), refreshTokens: true });
    user = await system.seed.user();
  });
  after(async () => {
    await system?.stop();
  });

  const newBrowser = () => new Browser([system.urls.authorizeService, system.urls.consentUi]);

  /** Starts an authorization request and follows it to the page consent-ui shows (or to the client). */
  async function authorize(browser: Browser, requested: string[], state = `st-${Math.random().toString(36).slice(2)}`) {
    const { verifier, challenge } = pkcePair();
    const page = await browser.navigate(authorizeUrl(system, {
      response_type: 'code', client_id: client.clientId, redirect_uri: client.redirectUri, scope: requested.join(' '), state,
      code_challenge: challenge, code_challenge_method: 'S256',
    }));
    return { page, state, verifier, handle: new URL(page.url).searchParams.get('handle') ?? '' };
  }

  async function signIn(browser: Browser, page: Page, who: { username: string; password: string } = user): Promise<Page> {
    return browser.form(page, 'Sign in').fill('Username', who.username).fill('Password', who.password).submit('Sign in');
  }

  /** Signs in through a fresh authorization request and returns the browser on the consent page. */
  async function signedInAtConsent(requested: string[], who: SeededUser = user) {
    const browser = newBrowser();
    const started = await authorize(browser, requested);
    const consent = await browser.follow(await signIn(browser, started.page, who));
    assert.ok(browser.form(consent, 'Allow'), 'on the consent page');
    return { browser, consent, ...started };
  }

  describe('GET /ui/authorize (no session)', () => {
    it('shows the sign-in page: Username and Password by their labels, a Sign in button, an anti-CSRF field', async () => {
      const browser = newBrowser();
      const { page, handle } = await authorize(browser, [scopes.orders]);
      assert.equal(page.status, 200);
      assert.ok(page.url.startsWith(`${system.urls.consentUi}/ui/authorize?handle=`));
      assert.match(page.headers.get('content-type') ?? '', /^text\/html/);
      const form = browser.form(page, 'Sign in');
      assert.equal(form.method, 'POST');
      assert.equal(form.action, `${system.urls.consentUi}/ui/login`);
      assert.equal(form.control('Username').getAttribute('type'), 'text');
      assert.equal(form.control('Password').getAttribute('type'), 'password');
      assert.ok((form.hidden('_csrf') ?? '').length > 10, 'anti-CSRF field');
      assert.equal(form.hidden('handle'), handle);
      assert.ok(page.document.querySelector('meta[name=viewport]'), 'readable on a phone');
      assert.match(pageText(page), new RegExp(clientName), 'names the client');
    });

    it('sends headers that forbid framing, referrers, caching and every external asset', async () => {
      const { page } = await authorize(newBrowser(), [scopes.orders]);
      assert.equal(page.headers.get('x-frame-options'), 'DENY');
      const csp = page.headers.get('content-security-policy') ?? '';
      assert.match(csp, /frame-ancestors 'none'/);
      assert.match(csp, /default-src 'none'/);
      assert.match(csp, /form-action 'self' https:\/\/client-/, 'form-action also allows the client redirect that may follow sign-in');
      assert.equal(page.headers.get('referrer-policy'), 'no-referrer');
      assert.equal(page.headers.get('cache-control'), 'no-store');
      assert.equal(page.headers.get('x-content-type-options'), 'nosniff');
      assert.equal(page.document.querySelectorAll('script, link, img, iframe').length, 0, 'no scripts or external assets');
    });

    it('shows an error page (400), not a form, for an unknown or malformed handle', async () => {
      const browser = newBrowser();
      for (const handle of ['A'.repeat(43), 'short', 'x'.repeat(43) + '<script>']) {
        const page = await browser.get(`${system.urls.consentUi}/ui/authorize?handle=${encodeURIComponent(handle)}`);
        assert.equal(page.status, 400, handle);
        assert.match(pageText(page), /expired/);
        assert.equal(page.document.querySelectorAll('form').length, 0);
      }
      const repeated = await browser.get(`${system.urls.consentUi}/ui/authorize?handle=${'A'.repeat(43)}&handle=${'B'.repeat(43)}`);
      assert.equal(repeated.status, 400);
    });
  });

  describe('POST /ui/login', () => {
    it('gives an unknown user and a wrong password the same answer, and reports both failures', async () => {
      const unknownName = `nobody_${Math.random().toString(36).slice(2, 10)}`;
      const audit = await collectAuditEvents(system.nc, (e) => e.subject === unknownName || e.subject === user.username);
      try {
        const browser = newBrowser();
        const { page } = await authorize(browser, [scopes.orders]);
        const unknown = await signIn(browser, page, { username: unknownName, password: user.password });
        const wrong = await signIn(browser, page, { username: user.username, password: `${user.password}x` });
        assert.equal(unknown.status, wrong.status);
        assert.equal(unknown.status, 200);
        const message = (p: Page) => p.document.querySelector('[role=alert]')?.text.trim();
        assert.equal(message(unknown), 'Wrong username or password.');
        assert.equal(message(wrong), message(unknown));
        // The same page apart from the echoed username and the fresh anti-CSRF token.
        const normalise = (p: Page, name: string) => p.html.replaceAll(name, 'NAME').replace(/name="_csrf" value="[^"]*"/, '');
        assert.equal(normalise(unknown, unknownName), normalise(wrong, user.username));
        for (const p of [unknown, wrong]) assert.ok(!p.setCookies.some((c) => c.startsWith('session=')), 'no session');
        const failed = await audit.waitFor('oauth.login.failed', 2);
        assert.deepEqual(failed.map((e) => [e.subject, e.data.reason, e.data.client_id]), [
          [unknownName, 'unknown_user', client.clientId],
          [user.username, 'wrong_password', client.clientId],
        ]);
        assert.ok(!JSON.stringify(audit.events).includes(user.password), 'no password in events');
      } finally {
        await audit.stop();
      }
    });

    it('signs in with a fresh session id (HttpOnly, SameSite=Lax), never a planted one, and reports it', async () => {
      const audit = await collectAuditEvents(system.nc, (e) => e.subject === user.username);
      try {
        const browser = newBrowser();
        const { page, handle } = await authorize(browser, [scopes.orders]);
        const planted = 'P'.repeat(43);
        browser.jar.set(system.urls.consentUi, 'session', planted);
        const res = await signIn(browser, page);
        assert.equal(res.status, 303);
        assert.equal(res.location, `${system.urls.consentUi}/ui/authorize?handle=${handle}`);
        const setCookie = res.setCookies.find((c) => c.startsWith('session='));
        assert.ok(setCookie, 'sets the session cookie');
        assert.match(setCookie, /; HttpOnly/i);
        assert.match(setCookie, /; SameSite=Lax/i);
        assert.match(setCookie, /; Path=\//i);
        const id = browser.jar.get(system.urls.consentUi, 'session')!.value;
        assert.notEqual(id, planted);
        const stored = await system.db.collection('sessions').findOne({ _id: sha256(id) as never });
        assert.equal(stored?.sub, user.sub);
        assert.equal(await system.db.collection('sessions').findOne({ _id: planted as never }), null, 'only hashes are stored');

        // Signing in while already signed in gives yet another id and ends the session the browser had.
        const other = newBrowser();
        const form = await authorize(other, [scopes.orders]);
        other.jar.set(system.urls.consentUi, 'session', id);
        const again = await signIn(other, form.page);
        assert.equal(again.status, 303);
        const secondId = other.jar.get(system.urls.consentUi, 'session')!.value;
        assert.notEqual(secondId, id);
        assert.equal(await system.db.collection('sessions').findOne({ _id: sha256(id) as never }), null, 'the earlier session ended');

        const [succeeded] = await audit.waitFor('oauth.login.succeeded', 2);
        assert.ok(succeeded);
        assert.equal(succeeded.data.sub, user.sub);
        assert.equal(succeeded.data.client_id, client.clientId);
      } finally {
        await audit.stop();
      }
    });

    it('replaces a password hash stored under the earlier argon2id settings (19 MiB) at sign-in, keeping the password', async () => {
      const earlier = await system.seed.user();
      const users = system.db.collection<{ _id: string; passwordHash: string }>('users');
      const earlierHash = await hash(earlier.password, { algorithm: 2, memoryCost: 19_456, timeCost: 2, parallelism: 1 });
      await users.updateOne({ _id: earlier.sub }, { $set: { passwordHash: earlierHash } });
      const browser = newBrowser();
      const { page } = await authorize(browser, [scopes.orders]);
      assert.equal((await signIn(browser, page, earlier)).status, 303);
      const replaced = (await users.findOne({ _id: earlier.sub }))!.passwordHash;
      assert.match(replaced, /^\$argon2id\$v=19\$m=20480,t=2,p=1\$/);
      assert.ok(await verifyPassword(replaced, earlier.password));
    });
  });

  describe('consent page: GET /ui/authorize (signed in) and POST /ui/consent', () => {
    it('names the client and lists the description of every requested scope, with Allow, Deny and Remember', async () => {
      const { browser, consent } = await signedInAtConsent([scopes.orders, scopes.profile, scopes.payments]);
      assert.equal(consent.status, 200);
      const text = pageText(consent);
      assert.match(text, new RegExp(clientName));
      assert.match(text, /Read your order history/);
      assert.match(text, /See your name and e-mail address/);
      assert.ok(text.includes('Make payments <for you> & "others"'), 'descriptions are shown as text');
      assert.ok(consent.html.includes('Make payments &lt;for you&gt; &amp; &quot;others&quot;'), 'and escaped in the HTML');
      const form = browser.form(consent, 'Allow');
      assert.ok(form.button('Deny'));
      assert.equal(form.control('Remember this decision').getAttribute('type'), 'checkbox');
      assert.ok((form.hidden('_csrf') ?? '').length > 10);
      assert.ok(browser.form(consent, 'Sign out'), 'a Sign out button');
      assert.ok(consent.document.querySelectorAll('a').some((a) => a.text.trim() === 'Your authorizations' && a.getAttribute('href') === '/ui/authorizations'));
      assert.equal(consent.headers.get('x-frame-options'), 'DENY');
      assert.match(consent.headers.get('content-security-policy') ?? '', /form-action 'self' https:\/\/client-[^ ;]+\.example\.com/);
    });

    it('Allow answers with a 303 to the redirect URI carrying code, state and iss, and no referrer', async () => {
      const audit = await collectAuditEvents(system.nc, forClient(client.clientId));
      try {
        const { browser, consent, state, verifier } = await signedInAtConsent([scopes.orders, scopes.profile]);
        const res = await browser.form(consent, 'Allow').submit('Allow');
        assert.equal(res.status, 303);
        assert.equal(res.headers.get('referrer-policy'), 'no-referrer');
        const location = new URL(res.location!);
        assert.equal(`${location.origin}${location.pathname}`, client.redirectUri);
        assert.ok((location.searchParams.get('code') ?? '').length >= 43);
        assert.equal(location.searchParams.get('state'), state);
        assert.equal(location.searchParams.get('iss'), system.env.OAUTH_ISSUER);
        const [approved] = await audit.waitFor('oauth.authorization.approved');
        assert.equal(approved!.data.sub, user.sub);
        // Not remembered: only the grant is recorded.
        const consentDoc = await system.db.collection('consents').findOne({ _id: `${user.sub} ${client.clientId}` as never });
        assert.deepEqual(consentDoc?.scopes, []);
        assert.ok(consentDoc?.grantedScopes.includes(scopes.orders));
        if (hasTokenService) {
          const tokens = await exchangeCode(system, client, location.searchParams.get('code')!, verifier);
          assert.equal(tokens.status, 200, JSON.stringify(tokens.body));
          assert.equal(tokens.body.scope, `${scopes.orders} ${scopes.profile}`);
        }
      } finally {
        await audit.stop();
      }
    });

    it('Deny answers with a 303 carrying access_denied, state and iss', async () => {
      const { browser, consent, state } = await signedInAtConsent([scopes.orders]);
      const res = await browser.form(consent, 'Deny').submit('Deny');
      assert.equal(res.status, 303);
      assert.equal(res.headers.get('referrer-policy'), 'no-referrer');
      const location = new URL(res.location!);
      assert.equal(`${location.origin}${location.pathname}`, client.redirectUri);
      assert.equal(location.searchParams.get('error'), 'access_denied');
      assert.equal(location.searchParams.get('state'), state);
      assert.equal(location.searchParams.get('iss'), system.env.OAUTH_ISSUER);
      assert.equal(location.searchParams.get('code'), null);
    });

    it('refuses a POST without (or with a wrong) anti-CSRF token with 403, and the request stays pending', async () => {
      const { browser, consent, handle } = await signedInAtConsent([scopes.orders]);
      const form = browser.form(consent, 'Allow');
      const missing = await form.submit('Allow', (data) => data.delete('_csrf'));
      assert.equal(missing.status, 403);
      assert.equal(missing.location, undefined);
      const wrong = await form.submit('Allow', (data) => data.set('_csrf', 'abc-def'));
      assert.equal(wrong.status, 403);
      // Another browser's token does not fit this browser's secret.
      const other = await signedInAtConsent([scopes.orders]);
      const foreign = await form.submit('Allow', (data) => data.set('_csrf', other.browser.form(other.consent, 'Allow').hidden('_csrf')!));
      assert.equal(foreign.status, 403);
      const login = await newBrowser().request(`${system.urls.consentUi}/ui/login`, { form: new URLSearchParams({ username: user.username, password: user.password, handle }) });
      assert.equal(login.status, 403);
      const allowed = await form.submit('Allow');
      assert.equal(allowed.status, 303, 'the request was still pending');
      assert.ok(new URL(allowed.location!).searchParams.get('code'));
    });

    it('answers malformed forms with a 4xx page, never a 5xx', async () => {
      const { browser, consent, handle } = await signedInAtConsent([scopes.orders]);
      const form = browser.form(consent, 'Allow');
      const url = `${system.urls.consentUi}/ui/consent`;
      const cases: [string, (data: URLSearchParams) => void][] = [
        ['repeated decision', (d) => d.append('decision', 'deny')],
        ['repeated handle', (d) => d.append('handle', handle)],
        ['unknown decision', (d) => d.set('decision', 'maybe')],
        ['unknown field', (d) => d.set('extra', '1')],
        ['missing handle', (d) => d.delete('handle')],
        ['malformed handle', (d) => d.set('handle', '../../etc')],
        ['remember not "on"', (d) => d.set('remember', 'yes')],
      ];
      for (const [name, change] of cases) {
        const res = await form.submit('Allow', change);
        assert.equal(res.status, 400, name);
        assert.match(res.headers.get('content-type') ?? '', /^text\/html/, name);
      }
      const json = await browser.request(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ _csrf: form.hidden('_csrf'), handle, decision: 'allow' }) });
      assert.equal(json.status, 415);
      const huge = await browser.request(url, { form: new URLSearchParams({ _csrf: form.hidden('_csrf')!, handle, decision: 'allow', pad: 'x'.repeat(20_000) }) });
      assert.equal(huge.status, 413);
      const garbage = await browser.request(url, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: '%%%&&&==\u0000' });
      assert.ok(garbage.status >= 400 && garbage.status < 500, `garbage: ${garbage.status}`);
      const allowed = await form.submit('Allow');
      assert.equal(allowed.status, 303, 'the request was still pending');
    });

    it('finding 10: 8 simultaneous approvals by one owner of one client all answer 303 with a code, and one remembered consent remains', async () => {
      const owner = await system.seed.user();
      const atConsent = [];
      for (let i = 0; i < 8; i++) atConsent.push(await signedInAtConsent([scopes.orders, scopes.profile], owner));
      const answers = await Promise.all(atConsent.map(({ browser, consent }) =>
        browser.form(consent, 'Allow').check('Remember this decision').submit('Allow')));
      for (const [i, res] of answers.entries()) {
        assert.equal(res.status, 303, `approval ${i + 1}: ${res.status}`);
        assert.ok(new URL(res.location!).searchParams.get('code'), `approval ${i + 1} carries a code`);
      }
      const remembered = await system.db.collection('consents').find({ sub: owner.sub }).toArray();
      assert.equal(remembered.length, 1);
      assert.deepEqual([...remembered[0]!.scopes].sort(), [scopes.orders, scopes.profile].sort());
      assert.deepEqual([...remembered[0]!.grantedScopes].sort(), [scopes.orders, scopes.profile].sort());
    });

    it('the same approval with Remember sent twice (a double click) is reported once: one oauth.consent.granted, as one approval', async () => {
      const owner = await system.seed.user();
      const audit = await collectAuditEvents(system.nc, (e) => e.data.sub === owner.sub);
      try {
        const { browser, consent } = await signedInAtConsent([scopes.orders], owner);
        const form = browser.form(consent, 'Allow').check('Remember this decision');
        for (const res of [await form.submit('Allow'), await form.submit('Allow')]) {
          assert.equal(res.status, 303);
          assert.ok(new URL(res.location!).searchParams.get('code'));
        }
        // Each answer waited for its events to be safe, so a second copy would be in the stream by now.
        await audit.waitForExactly({ 'oauth.consent.granted': 1, 'oauth.authorization.approved': 1, 'oauth.code.issued': 1 });
        const [granted] = audit.ofType('oauth.consent.granted');
        assert.equal(granted!.data.scope, scopes.orders);
        assert.equal(granted!.time, audit.ofType('oauth.authorization.approved')[0]!.time, 'dated by the decision, not by either submission');
      } finally {
        await audit.stop();
      }
    });

    it('POST /ui/consent without a session goes back to sign-in, with nothing decided', async () => {
      const { browser, consent, handle } = await signedInAtConsent([scopes.orders]);
      const form = browser.form(consent, 'Allow');
      browser.jar.delete(system.urls.consentUi, 'session');
      const res = await form.submit('Allow');
      assert.equal(res.status, 303);
      assert.equal(res.location, `${system.urls.consentUi}/ui/authorize?handle=${handle}`);
      const page = await browser.follow(res);
      assert.ok(browser.form(page, 'Sign in'));
    });
  });

  describe('GET /ui/authorize with a remembered consent', () => {
    it('skips the consent page for the same or narrower scopes, and asks again for wider ones', async () => {
      const audit = await collectAuditEvents(system.nc, forClient(client.clientId));
      try {
        const { browser, consent } = await signedInAtConsent([scopes.orders, scopes.profile]);
        const res = await browser.form(consent, 'Allow').check('Remember this decision').submit('Allow');
        assert.equal(res.status, 303);
        assert.ok(new URL(res.location!).searchParams.get('code'));
        const [granted] = await audit.waitFor('oauth.consent.granted');
        assert.equal(granted!.data.scope, `${scopes.orders} ${scopes.profile}`);
        assert.equal(granted!.data.sub, user.sub);

        for (const requested of [[scopes.orders, scopes.profile], [scopes.profile], [scopes.orders]]) {
          const again = await authorize(browser, requested);
          assert.equal(again.page.status, 302, `${requested.join(' ')} goes straight back`);
          assert.equal(again.page.headers.get('referrer-policy'), 'no-referrer');
          const location = new URL(again.page.location!);
          assert.equal(`${location.origin}${location.pathname}`, client.redirectUri);
          assert.ok(location.searchParams.get('code'));
          assert.equal(location.searchParams.get('state'), again.state);
          assert.equal(location.searchParams.get('iss'), system.env.OAUTH_ISSUER);
          if (hasTokenService) {
            const tokens = await exchangeCode(system, client, location.searchParams.get('code')!, again.verifier);
            assert.equal(tokens.status, 200, JSON.stringify(tokens.body));
            assert.equal(tokens.body.scope, requested.join(' '));
          }
        }

        const wider = await authorize(browser, [scopes.orders, scopes.payments]);
        assert.equal(wider.page.status, 200);
        assert.ok(browser.form(wider.page, 'Allow'), 'asks again');
        assert.match(pageText(wider.page), /Make payments/);

        // Another owner of the same browser-less kind is not covered by this owner's consent.
        const other = await system.seed.user();
        const otherBrowser = newBrowser();
        const started = await authorize(otherBrowser, [scopes.orders]);
        const page = await otherBrowser.follow(await signIn(otherBrowser, started.page, other));
        assert.ok(otherBrowser.form(page, 'Allow'), 'another owner is asked');
      } finally {
        await audit.stop();
      }
    });
  });

  describe('POST /ui/logout', () => {
    it('ends the session: the cookie is cleared, the session is gone, and the old id no longer signs in', async () => {
      const owner = await system.seed.user();
      const audit = await collectAuditEvents(system.nc, (e) => e.data.sub === owner.sub);
      try {
        const { browser, consent, handle } = await signedInAtConsent([scopes.orders], owner);
        const id = browser.jar.get(system.urls.consentUi, 'session')!.value;
        const res = await browser.form(consent, 'Sign out').submit('Sign out');
        assert.equal(res.status, 303);
        assert.equal(res.location, `${system.urls.consentUi}/ui/authorize?handle=${handle}`);
        assert.ok(res.setCookies.some((c) => /^session=;/.test(c) && /Max-Age=0|Expires=Thu, 01 Jan 1970/i.test(c)), 'cookie cleared');
        assert.equal(browser.jar.get(system.urls.consentUi, 'session'), undefined);
        assert.equal(await system.db.collection('sessions').findOne({ _id: sha256(id) as never }), null);
        const back = await browser.follow(res);
        assert.ok(browser.form(back, 'Sign in'), 'asked to sign in again for the same request');

        const replay = newBrowser();
        replay.jar.set(system.urls.consentUi, 'session', id);
        const page = await replay.get(`${system.urls.consentUi}/ui/authorizations`);
        assert.ok(replay.form(page, 'Sign in'), 'the old id is not a session');
        const [logout] = await audit.waitFor('oauth.logout');
        assert.equal(logout!.subject, owner.username);
      } finally {
        await audit.stop();
      }
    });
  });

  describe('Your authorizations: GET /ui/authorizations, POST /ui/authorizations/revoke', () => {
    it('asks to sign in first, then lists the page', async () => {
      const browser = newBrowser();
      const page = await browser.get(`${system.urls.consentUi}/ui/authorizations`);
      assert.equal(page.status, 200);
      const res = await signIn(browser, page);
      assert.equal(res.status, 303);
      assert.equal(res.location, `${system.urls.consentUi}/ui/authorizations`);
      const list = await browser.follow(res);
      assert.match(pageText(list), /Your authorizations/);
      const root = await browser.get(`${system.urls.consentUi}/ui/`);
      assert.equal(root.location, `${system.urls.consentUi}/ui/authorizations`);
    });

    it(`lists the client, and Revoke removes it${hasTokenService ? ' and ends its refresh token' : ''}`, async () => {
      const owner = await system.seed.user();
      const browser = newBrowser();
      const started = await authorize(browser, [scopes.orders, scopes.profile]);
      const consent = await browser.follow(await signIn(browser, started.page, owner));
      const approved = await browser.form(consent, 'Allow').submit('Allow');
      const code = new URL(approved.location!).searchParams.get('code')!;
      let refreshToken: string | undefined;
      if (hasTokenService) {
        const tokens = await exchangeCode(system, client, code, started.verifier);
        assert.equal(tokens.status, 200, JSON.stringify(tokens.body));
        refreshToken = tokens.body.refresh_token as string;
        assert.ok(refreshToken, 'the client gets refresh tokens');
      }

      const list = await browser.navigate(`${system.urls.consentUi}/ui/authorizations`);
      assert.equal(list.status, 200);
      assert.match(pageText(list), new RegExp(clientName));
      assert.match(pageText(list), /Read your order history/);
      const revokeForms = browser.forms(list, 'Revoke');
      const form = revokeForms.find((f) => f.hidden('client_id') === client.clientId);
      assert.ok(form, 'a Revoke button for the client');

      const audit = await collectAuditEvents(system.nc, (e) => e.data.sub === owner.sub);
      try {
        const res = await form.submit('Revoke');
        const consentId = `${owner.sub} ${client.clientId}`;
        if (!hasTokenService) {
          // token-service ends the grants; without it nothing is deleted and the owner can try again.
          assert.equal(res.status, 503);
          assert.ok(await system.db.collection('consents').findOne({ _id: consentId as never }), 'consent kept');
          return;
        }
        assert.equal(res.status, 303);
        const after = await browser.follow(res);
        assert.doesNotMatch(pageText(after), new RegExp(clientName));
        assert.match(pageText(after), /Access revoked/);
        assert.equal(await system.db.collection('consents').findOne({ _id: consentId as never }), null);
        const [revoked] = await audit.waitFor('oauth.consent.revoked');
        assert.equal(revoked!.data.client_id, client.clientId);
        const refreshed = await tokenRequest(system, { grant_type: 'refresh_token', refresh_token: refreshToken! }, { clientId: client.clientId, clientSecret: client.clientSecret! });
        assert.equal(refreshed.status, 400);
        assert.equal(refreshed.body.error, 'invalid_grant');
      } finally {
        await audit.stop();
      }
    });

    it('Revoke requires the anti-CSRF token and a session', async () => {
      const browser = newBrowser();
      await browser.follow(await signIn(browser, await browser.get(`${system.urls.consentUi}/ui/authorizations`)));
      const forged = await browser.request(`${system.urls.consentUi}/ui/authorizations/revoke`, { form: new URLSearchParams({ client_id: client.clientId }) });
      assert.equal(forged.status, 403);
    });

    // Last: it stops token-service.
    it('Revoke while token-service does not answer shows a 503 page and keeps the client listed', { skip: !hasTokenService && 'token-service is absent: the revoke test above covers this' }, async () => {
      const owner = await system.seed.user();
      const browser = newBrowser();
      const started = await authorize(browser, [scopes.orders]);
      const consent = await browser.follow(await signIn(browser, started.page, owner));
      assert.equal((await browser.form(consent, 'Allow').submit('Allow')).status, 303);
      await system.stopService('token-service');
      const list = await browser.navigate(`${system.urls.consentUi}/ui/authorizations`);
      const form = browser.forms(list, 'Revoke').find((f) => f.hidden('client_id') === client.clientId);
      assert.ok(form);
      const res = await form.submit('Revoke');
      assert.equal(res.status, 503);
      assert.match(pageText(res), /try again/i);
      assert.ok(await system.db.collection('consents').findOne({ _id: `${owner.sub} ${client.clientId}` as never }), 'consent kept');
      assert.match(pageText(await browser.navigate(`${system.urls.consentUi}/ui/authorizations`)), new RegExp(clientName));
    });
  });
});
