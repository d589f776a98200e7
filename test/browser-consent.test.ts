// A real browser (Debian's headless Chromium, driven by playwright-core) signs in and approves
// through the real pages. The consent page's screenshot is kept in test-artifacts/.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { chromium, type Browser } from 'playwright-core';
import { startSystem, type SeededClient, type SeededUser, type System } from './helpers/system.ts';
import { authorizeUrl, exchangeCode, pkcePair } from './helpers/oauth.ts';
import { projectRoot } from './helpers/process.ts';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const artifacts = `${projectRoot}test-artifacts`;

describe('consent pages in a real browser', { skip: !existsSync(CHROMIUM) && `no Chromium at ${CHROMIUM} (apt-get install chromium)` }, () => {
  let system: System;
  let browser: Browser;
  let client: SeededClient;
  let user: SeededUser;
  let scopes: string[];

  before(async () => {
    system = await startSystem('browser', { services: ['authorize-service', 'consent-ui', 'token-service'] });
    scopes = [await system.seed.scope('orders', 'Read your orders'), await system.seed.scope('profile', 'See your name and e-mail address')];
    client = await system.seed.client({ name: 'Acme Shop', scopes });
    user = await system.seed.user();
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    await mkdir(artifacts, { recursive: true });
  });
  after(async () => {
    await browser?.close();
    await system?.stop();
  });

  it('signs in, shows the client and every scope, and approves with a code for the client', async () => {
    const page = await browser.newPage({ viewport: { width: 390, height: 844 } });
    // The client's redirect URI is not served anywhere: answer it inside the browser.
    let callback: URL | undefined;
    await page.route(`${client.redirectUri}**`, (route) => {
      callback = new URL(route.request().url());
      return route.fulfill({ status: 200, contentType: 'text/html', body: '<p>client callback</p>' });
    });
    const { verifier, challenge } = pkcePair();
    await page.goto(authorizeUrl(system, {
      response_type: 'code', client_id: client.clientId, redirect_uri: client.redirectUri, scope: scopes.join(' '), state: 'browser-state',
      code_challenge: challenge, code_challenge_method: 'S256',
    }));

    await page.getByLabel('Username').fill(user.username);
    await page.getByLabel('Password').fill(user.password);
    await page.getByRole('button', { name: 'Sign in' }).click();

    await page.getByRole('button', { name: 'Allow' }).waitFor();
    const text = await page.textContent('body');
    assert.match(text!, /Acme Shop/);
    assert.match(text!, /Read your orders/);
    assert.match(text!, /See your name and e-mail address/);
    await page.screenshot({ path: `${artifacts}/consent-page.png`, fullPage: true });

    await page.getByRole('button', { name: 'Allow' }).click();
    await page.waitForURL(`${client.redirectUri}**`);
    assert.ok(callback, 'the browser reached the redirect URI');
    assert.equal(callback.searchParams.get('state'), 'browser-state');
    assert.equal(callback.searchParams.get('iss'), system.env.OAUTH_ISSUER);
    const tokens = await exchangeCode(system, client, callback.searchParams.get('code')!, verifier);
    assert.equal(tokens.status, 200, JSON.stringify(tokens.body));
    assert.equal(tokens.body.scope, scopes.join(' '));
    await page.close();
  });

  it('cannot be framed by another site', async () => {
    const page = await browser.newPage();
    const res = await page.goto(authorizeUrl(system, { response_type: 'code', client_id: client.clientId, redirect_uri: client.redirectUri, scope: scopes[0]!, state: 'x', code_challenge: pkcePair().challenge, code_challenge_method: 'S256' }));
    const headers = res!.headers();
    assert.ok(headers['x-frame-options'] === 'DENY' || /frame-ancestors 'none'/.test(headers['content-security-policy'] ?? ''));
    await page.close();
  });
});
