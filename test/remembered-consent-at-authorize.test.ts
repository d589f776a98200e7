// A signed-in owner whose remembered consent covers the request gets the code from GET /authorize
// itself (services/authorize-service/answer-remembered.ts), where consent-ui's session cookie reaches
// authorize-service (here: one host, ports aside, as browsers send cookies). Against real NATS and
// a real database: the code is redeemed once, the events are the usual ones, whatever ends the
// session or the consent at consent-ui ends the answer here within 1 s (its broadcast), and a code
// answered from a consent read before a revocation by time is refused, one read after it honoured.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startSystem, type SeededClient, type SeededUser, type System } from './helpers/system.ts';
import { authorizeUrl, exchangeCode, pkcePair } from './helpers/oauth.ts';
import { Browser, type Page } from './helpers/browser.ts';
import { collectAuditEvents, forClient } from './helpers/audit.ts';
import { within1s } from './helpers/within.ts';
import { main as adminMain } from '../services/admin-cli/main.ts';

describe('a remembered consent answered at the authorization endpoint', () => {
  let system: System;
  let client: SeededClient;
  let scope: string;

  before(async () => {
    // Reads kept 10 s, not 2: what must end within 1 s here can only have ended by a broadcast.
    system = await startSystem('rememberedhere', {
      services: ['authorize-service', 'consent-ui', 'token-service'], serviceEnv: { 'authorize-service': { HOT_READ_CACHE_MS: '10000' } },
    });
    scope = await system.seed.scope('orders', 'Read your orders');
    client = await system.seed.client({ name: 'Remembered Shop', scopes: [scope], refreshTokens: true });
  });
  after(async () => {
    await system?.stop();
  });

  const newBrowser = () => new Browser([system.urls.authorizeService, system.urls.consentUi]);

  /** The authorization request's first answer (no redirect followed), with its PKCE verifier. */
  async function authorize(browser: Browser, to = client): Promise<{ page: Page; verifier: string }> {
    const { verifier, challenge } = pkcePair();
    const page = await browser.get(authorizeUrl(system, {
      response_type: 'code', client_id: to.clientId, redirect_uri: to.redirectUri, scope, state: 'st-1',
      code_challenge: challenge, code_challenge_method: 'S256',
    }));
    return { page, verifier };
  }

  /** A browser signed in as a new owner who allowed the client with "Remember this decision". */
  async function rememberedOwner(to = client): Promise<{ browser: Browser; owner: SeededUser }> {
    const owner = await system.seed.user();
    const browser = newBrowser();
    const signInPage = await browser.follow((await authorize(browser, to)).page);
    const consentPage = await browser.follow(await browser.form(signInPage, 'Sign in').fill('Username', owner.username).fill('Password', owner.password).submit('Sign in'));
    const allowed = await browser.form(consentPage, 'Allow').check('Remember this decision').submit('Allow');
    assert.ok(new URL(allowed.location!).searchParams.get('code'), 'allowed, with a code');
    return { browser, owner };
  }

  const codeIn = (page: Page, to = client) => (page.location?.startsWith(to.redirectUri) ? new URL(page.location).searchParams.get('code') : null);
  const sessionCookie = (browser: Browser) => browser.jar.get(system.urls.consentUi, 'session')!.value;

  it('answers with code, state and iss from authorize-service; the code is redeemed once; the events are requested, approved and code issued, without the code', async () => {
    const { browser, owner } = await rememberedOwner();
    const audit = await collectAuditEvents(system.nc, forClient(client.clientId));
    try {
      const { page, verifier } = await authorize(browser);
      assert.equal(page.status, 302);
      const code = codeIn(page);
      assert.ok(code, `a code at once, not ${page.location}`);
      const back = new URL(page.location!);
      assert.equal(back.searchParams.get('state'), 'st-1');
      assert.equal(back.searchParams.get('iss'), system.env.OAUTH_ISSUER);
      assert.equal(page.headers.get('referrer-policy'), 'no-referrer');
      assert.equal(page.headers.get('cache-control'), 'no-store');

      const tokens = await exchangeCode(system, client, code, verifier);
      assert.equal(tokens.status, 200, JSON.stringify(tokens.body));
      assert.equal(tokens.body.scope, scope);
      assert.ok(tokens.body.refresh_token);
      const again = await exchangeCode(system, client, code, verifier);
      assert.equal(again.body.error, 'invalid_grant', 'single use');

      const metrics = await (await fetch(`${system.urls.authorizeService}/metrics`)).text();
      assert.match(metrics, /^oauth_events_total\{[^}]*name="remembered_consent",outcome="code"[^}]*\} [1-9]/m, 'counted as answered at once');

      await audit.waitForExactly({ 'oauth.authorization.requested': 1, 'oauth.authorization.approved': 1, 'oauth.code.issued': 1, 'oauth.token.issued': 1 }, 300);
      const [approved] = audit.ofType('oauth.authorization.approved');
      assert.deepEqual([approved!.data.sub, approved!.data.username, approved!.data.scope], [owner.sub, owner.username, scope]);
      const text = JSON.stringify(audit.events);
      assert.ok(!text.includes(code) && !text.includes(sessionCookie(browser)), 'no code or session id in the events');
    } finally {
      await audit.stop();
    }
  });

  it('gives a copy of the session cookie no code once its owner signed out: the change reaches authorize-service within 1 s', async () => {
    const { browser } = await rememberedOwner();
    const copy = newBrowser();
    copy.jar.set(system.urls.consentUi, 'session', sessionCookie(browser));
    assert.ok(codeIn((await authorize(copy)).page), 'the copy gets a code while the session lasts');

    const page = await browser.navigate(`${system.urls.consentUi}/ui/authorizations`);
    const signedOut = await browser.form(page, 'Sign out').submit('Sign out');
    assert.equal(signedOut.status, 303);
    const since = Date.now();
    await within1s(since, 'no code at once for the ended session', async () => codeIn((await authorize(copy)).page) === null);
    const signInPage = await copy.follow((await authorize(copy)).page);
    assert.ok(copy.form(signInPage, 'Sign in'), 'on to consent-ui, which asks to sign in');
  });

  it('leaves a request that carries two session cookies (one set for a narrower path) to consent-ui', async () => {
    const { browser } = await rememberedOwner();
    const planted = (await rememberedOwner()).browser;
    const url = authorizeUrl(system, {
      response_type: 'code', client_id: client.clientId, redirect_uri: client.redirectUri, scope, state: 'st-2',
      code_challenge: pkcePair().challenge, code_challenge_method: 'S256',
    });
    // A browser sends the cookie of the longer path first.
    const res = await fetch(url, { headers: { cookie: `session=${sessionCookie(planted)}; session=${sessionCookie(browser)}` }, redirect: 'manual' });
    assert.equal(res.status, 302);
    assert.equal(new URL(res.headers.get('location')!).origin, new URL(system.urls.consentUi).origin, 'on to consent-ui, no code');
    const one = await fetch(url, { headers: { cookie: `csrf=x; session=${sessionCookie(browser)}` }, redirect: 'manual' });
    assert.ok(new URL(one.headers.get('location')!).searchParams.get('code'), 'one session cookie among others: a code at once');
  });

  it('asks again after Revoke on "Your authorizations" (the change reaches authorize-service within 1 s); the code from before is refused', async () => {
    const { browser } = await rememberedOwner();
    const before = await authorize(browser);
    const codeBefore = codeIn(before.page);
    assert.ok(codeBefore, 'a code at once before');
    const list = await browser.navigate(`${system.urls.consentUi}/ui/authorizations`);
    const revoke = browser.forms(list, 'Revoke').find((form) => form.hidden('client_id') === client.clientId);
    assert.equal((await revoke!.submit('Revoke')).status, 303);

    const since = Date.now();
    let next: { page: Page; verifier: string } | undefined;
    const answeredAfter: { code: string; verifier: string }[] = [];
    await within1s(since, 'no code at once after Revoke', async () => {
      next = await authorize(browser);
      const code = codeIn(next.page);
      if (code) answeredAfter.push({ code, verifier: next.verifier });
      return code === null;
    });
    const consentPage = await browser.follow(next!.page);
    assert.ok(browser.form(consentPage, 'Allow'), 'consent-ui asks again');
    // Before the broadcast arrived, codes approved by the consent as read before the Revoke: refused, as is the one from before.
    for (const { code, verifier } of [{ code: codeBefore, verifier: before.verifier }, ...answeredAfter]) {
      assert.equal((await exchangeCode(system, client, code, verifier)).body.error, 'invalid_grant', 'the Revoke covers the grant');
    }
  });

  it("an operator's grants revoke --client: a remembered approval right after it is honoured (the revocation's broadcast drops the consent read)", async () => {
    const own = await system.seed.client({ name: 'Cut-off Shop', scopes: [scope], refreshTokens: true });
    const { browser } = await rememberedOwner(own);
    const warm = await authorize(browser, own);
    assert.ok(codeIn(warm.page, own), 'a code at once: the consent is read, and kept 10 s');
    const io = { out: () => {}, warn: (message: string) => assert.fail(message) };
    const env = { NODE_ENV: 'test', NATS_URL: system.env.NATS_URL!, MONGODB_URI: system.env.MONGODB_URI! };
    assert.equal(await adminMain(['grants', 'revoke', '--client', own.clientId], env, io), 0);
    assert.equal((await exchangeCode(system, own, codeIn(warm.page, own)!, warm.verifier)).body.error, 'invalid_grant', 'the code from before is cut off');

    const { page, verifier } = await authorize(browser, own);
    const code = codeIn(page, own);
    assert.ok(code, 'still a code at once: the consent stands');
    const tokens = await exchangeCode(system, own, code, verifier);
    assert.equal(tokens.status, 200, `a grant approved after the cut-off is honoured: ${JSON.stringify(tokens.body)}`);
  });
});
