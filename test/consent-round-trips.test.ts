// How many NATS round trips the pages cost. Every request consent-ui sends to another service is
// seen here too: a plain subscription (no queue group) gets a copy of each request message on its
// subject, beside the service that answers it. Counted: every message on oauth.> that expects a
// reply (a request), audit publishes (JetStream) aside.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Subscription } from '@nats-io/nats-core';
import { Subjects } from '#shared/nats/subjects.ts';
import { startSystem, type SeededClient, type SeededUser, type System } from './helpers/system.ts';
import { authorizeUrl, pkcePair } from './helpers/oauth.ts';
import { Browser, type Page } from './helpers/browser.ts';

// consent-ui reads a pending request from its handle; the one request it sends is the decision. A
// remembered consent that authorize-service can see (the session cookie reaches it) costs none.
describe('oauth.authorization.decide, as consent-ui uses it', () => {
  let system: System;
  let client: SeededClient;
  let user: SeededUser;
  let counter: Subscription;
  const requests: string[] = [];

  before(async () => {
    system = await startSystem('roundtrips', { services: ['authorize-service', 'consent-ui'] });
    const scopes = [await system.seed.scope('orders', 'Read your orders'), await system.seed.scope('profile', 'See your profile')];
    client = await system.seed.client({ name: 'Round Trip Shop', scopes });
    user = await system.seed.user();
    counter = system.nc.subscribe('oauth.>', {
      callback: (_error, msg) => {
        if (msg.reply && !msg.subject.startsWith(Subjects.auditPrefix)) requests.push(msg.subject);
      },
    });
    await system.nc.flush();
  });
  after(async () => {
    counter?.unsubscribe();
    await system?.stop();
  });

  /** The subjects of the requests made while `run` ran (the copies reach this connection before the flush answers). */
  async function requestsDuring(run: () => Promise<void>): Promise<string[]> {
    await system.nc.flush();
    requests.length = 0;
    await run();
    await system.nc.flush();
    return [...requests];
  }

  const newBrowser = () => new Browser([system.urls.authorizeService, system.urls.consentUi]);

  async function startRequest(browser: Browser): Promise<Page> {
    return browser.navigate(authorizeUrl(system, {
      response_type: 'code', client_id: client.clientId, redirect_uri: client.redirectUri, scope: client.scopes.join(' '), state: 'st',
      code_challenge: pkcePair().challenge, code_challenge_method: 'S256',
    }));
  }

  const signIn = (browser: Browser, page: Page) =>
    browser.form(page, 'Sign in').fill('Username', user.username).fill('Password', user.password).submit('Sign in');

  const codeOf = (page: Page) => (page.location ? new URL(page.location).searchParams.get('code') : null);

  it('a first sign-in with consent (sign-in page, sign in, consent page, Allow) costs 1 round trip', async () => {
    const browser = newBrowser();
    let approved: Page | undefined;
    const seen = await requestsDuring(async () => {
      const signInPage = await startRequest(browser);
      const consentPage = await browser.follow(await signIn(browser, signInPage));
      approved = await browser.form(consentPage, 'Allow').check('Remember this decision').submit('Allow');
    });
    assert.equal(approved?.status, 303);
    assert.ok(codeOf(approved!), 'back at the client with a code');
    assert.deepEqual(seen, [Subjects.authorizationDecide]);
  });

  // The consent remembered above now covers the request.
  it('a sign-in that a remembered consent approves (sign-in page, sign in, back with a code) costs 1 round trip', async () => {
    const browser = newBrowser();
    let back: Page | undefined;
    const seen = await requestsDuring(async () => {
      back = await signIn(browser, await startRequest(browser));
    });
    assert.equal(back?.status, 303);
    assert.ok(codeOf(back!), 'straight back at the client with a code');
    assert.deepEqual(seen, [Subjects.authorizationDecide]);
  });

  // consent-ui's session cookie reaches authorize-service here (one host, ports aside, as browsers send cookies).
  it('a signed-in owner with a remembered consent gets the code from the authorization endpoint itself, for no round trip', async () => {
    const browser = newBrowser();
    await signIn(browser, await startRequest(browser));
    let back: Page | undefined;
    const seen = await requestsDuring(async () => {
      back = await startRequest(browser);
    });
    assert.equal(back?.status, 302);
    assert.equal(new URL(back!.url).origin, new URL(system.urls.authorizeService).origin, 'answered by authorize-service, not consent-ui');
    assert.ok(codeOf(back!));
    assert.equal(back!.headers.get('referrer-policy'), 'no-referrer');
    assert.deepEqual(seen, []);
  });

  it('one whose session cookie does not reach authorize-service is sent back with a code by consent-ui, for 1 round trip', async () => {
    const browser = newBrowser();
    await signIn(browser, await startRequest(browser));
    // As from a host that consent-ui's cookie is not sent to: the request without it.
    const toConsentUi = await fetch(authorizeUrl(system, {
      response_type: 'code', client_id: client.clientId, redirect_uri: client.redirectUri, scope: client.scopes.join(' '), state: 'st',
      code_challenge: pkcePair().challenge, code_challenge_method: 'S256',
    }), { redirect: 'manual' });
    const consentUiPage = new URL(toConsentUi.headers.get('location')!, system.urls.authorizeService).toString();
    assert.equal(new URL(consentUiPage).origin, new URL(system.urls.consentUi).origin);
    let back: Page | undefined;
    const seen = await requestsDuring(async () => {
      back = await browser.navigate(consentUiPage);
    });
    assert.equal(new URL(back!.url).origin, new URL(system.urls.consentUi).origin);
    assert.ok(codeOf(back!));
    assert.deepEqual(seen, [Subjects.authorizationDecide]);
  });
});
