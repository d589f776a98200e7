// Ending access (CONTRACT "Ending access (operators)"), with two instances of every service on one
// NATS and one database: after `oauth-admin users disable|delete`, `clients disable|delete` and
// `grants revoke …`, within 1 s at every instance: refresh tokens are refused, access tokens are
// inactive at oauth.token.validate and at introspection, consent-ui sessions end, a disabled
// user's sign-in is answered like a wrong password, a disabled client cannot authenticate or
// start an authorization. `enable` allows new sign-ins and authentications, and revives nothing.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Subjects } from '#shared/nats/subjects.ts';
import type { CloudEvent } from '#shared/audit/cloud-event.ts';
import { main as adminMain } from '../services/admin-cli/main.ts';
import { liveGrant } from '../services/admin-cli/grants-admin.ts';
import { freePort, startService, startSystem, type SeededClient, type SeededUser, type System } from './helpers/system.ts';
import { codeViaNats, pkcePair } from './helpers/oauth.ts';
import { Browser, type Page } from './helpers/browser.ts';
import { collectAuditEvents } from './helpers/audit.ts';
import { grantIdOf, postForm } from './helpers/token-requests.ts';
import { within1s } from './helpers/within.ts';

let system: System;
let scope: string;
let resourceServer: SeededClient;
const extra: { stop(): Promise<void> }[] = [];
let tokenEdges: [string, string];
/** Where RFC 7662 introspection is served (validation-service today; token-service once it moves there). */
let introspectionEdges: [string, string];
let uiEdges: [string, string];
let authorizeEdges: [string, string];

before(async () => {
  system = await startSystem('endaccess');
  const [a, c, t, v] = await Promise.all([freePort(), freePort(), freePort(), freePort()]);
  const ports = { AUTHORIZE_SERVICE_PORT: String(a), CONSENT_UI_PORT: String(c), TOKEN_SERVICE_PORT: String(t), VALIDATION_SERVICE_PORT: String(v) };
  // The second instance of each: only its own port differs (the issuer and the other public URLs stay the first's).
  extra.push(await startService('authorize-service', { ...system.env, AUTHORIZE_SERVICE_PORT: ports.AUTHORIZE_SERVICE_PORT }));
  extra.push(await startService('consent-ui', { ...system.env, CONSENT_UI_PORT: ports.CONSENT_UI_PORT }));
  extra.push(await startService('token-service', { ...system.env, TOKEN_SERVICE_PORT: ports.TOKEN_SERVICE_PORT }));
  extra.push(await startService('validation-service', { ...system.env, VALIDATION_SERVICE_PORT: ports.VALIDATION_SERVICE_PORT }));
  tokenEdges = [system.urls.tokenService, `http://127.0.0.1:${t}`];
  uiEdges = [system.urls.consentUi, `http://localhost:${c}`];
  authorizeEdges = [system.urls.authorizeService, `http://localhost:${a}`];
  scope = await system.seed.scope('files');
  resourceServer = await system.seed.client({ scopes: [scope], refreshTokens: false });
  introspectionEdges = tokenEdges;
});
after(async () => {
  await Promise.allSettled(extra.map((s) => s.stop()));
  await system?.stop();
});

const cliEnv = () => ({ NODE_ENV: 'test', NATS_URL: system.env.NATS_URL!, MONGODB_URI: system.env.MONGODB_URI! });

/** Runs oauth-admin in-process; returns its exit status and output. */
async function admin(...args: string[]): Promise<{ code: number; out: string; warnings: string[] }> {
  let out = '';
  const warnings: string[] = [];
  const code = await adminMain(args, cliEnv(), { out: (text) => void (out += `${text}\n`), warn: (m) => void warnings.push(m) });
  return { code, out, warnings };
}

async function ok(...args: string[]): Promise<string> {
  const result = await admin(...args);
  assert.equal(result.code, 0, `oauth-admin ${args.join(' ')}`);
  assert.deepEqual(result.warnings, []);
  return result.out;
}




type Tokens = { accessToken: string; refreshToken: string };

/** A grant of `user` to `client`, its code exchanged at `edge`. */
async function tokensAt(edge: string, client: SeededClient, user: SeededUser): Promise<Tokens> {
  const { code, verifier } = await codeViaNats(system, client, user);
  const res = await postForm(`${edge}/token`, client, { grant_type: 'authorization_code', code, redirect_uri: client.redirectUri, code_verifier: verifier });
  assert.equal(res.status, 200, JSON.stringify(res.body));
  return { accessToken: res.body.access_token as string, refreshToken: res.body.refresh_token as string };
}

const refreshAt = (edge: string, client: SeededClient, refreshToken: string) => postForm(`${edge}/token`, client, { grant_type: 'refresh_token', refresh_token: refreshToken });

/** Whether every validation instance (over NATS, queue group: asked several times) and every introspection edge says active. */
async function activeAnywhere(token: string): Promise<boolean> {
  const replies = await Promise.all(Array.from({ length: 6 }, async () =>
    (await system.nc.request(Subjects.tokenValidate, JSON.stringify({ token }), { timeout: 5000 })).json<{ active: boolean }>()));
  const introspected = await Promise.all(introspectionEdges.map(async (edge) => (await postForm(`${edge}/introspect`, resourceServer, { token })).body));
  return replies.some((r) => r.active) || introspected.some((r) => r.active !== false);
}

/** Inactive at every validation and introspection instance, and refresh refused (`error`) at both token edges, each within 1 s. */
async function assertEnded(since: number, held: [Tokens, Tokens], client: SeededClient, error = 'invalid_grant'): Promise<void> {
  for (const tokens of held) await within1s(since, 'access token inactive everywhere', async () => !(await activeAnywhere(tokens.accessToken)));
  if (error === 'invalid_client') {
    // The client's authentication is refused once the edge reloaded its clients (a request with a token no one holds spends nothing).
    for (const edge of tokenEdges) await within1s(since, `invalid_client at ${edge}`, async () => (await refreshAt(edge, client, 'not-a-token')).body.error === 'invalid_client');
  }
  for (const [i, edge] of tokenEdges.entries()) {
    const refused = await refreshAt(edge, client, held[i]!.refreshToken);
    assert.equal(refused.body.error, error, `refresh at token edge ${i}: ${JSON.stringify(refused.body)}`);
  }
  assert.ok(Date.now() - since <= 1000, `refresh refused at both edges within 1 s (${Date.now() - since} ms)`);
  for (const tokens of held) assert.equal(await activeAnywhere(tokens.accessToken), false);
}

/** Signs in at the consent-ui instance `base`; returns the answer page and the browser. */
async function signIn(base: string, user: { username: string; password: string }): Promise<{ browser: Browser; page: Page }> {
  const browser = new Browser([...uiEdges, ...authorizeEdges]);
  const form = await browser.get(`${base}/ui/`);
  const page = await browser.form(form, 'Sign in').fill('Username', user.username).fill('Password', user.password).submit('Sign in');
  return { browser, page };
}

async function sessionOf(user: SeededUser): Promise<string> {
  const { browser, page } = await signIn(uiEdges[0], user);
  assert.equal(page.status, 303, 'signed in');
  return browser.jar.get(uiEdges[0], 'session')!.value;
}

/** Whether the authorization endpoint at `base` answers `session` with a code at once (its remembered consent for `client`). */
async function codeAtOnce(base: string, session: string, client: SeededClient): Promise<boolean> {
  const res = await fetch(`${base}/authorize?${new URLSearchParams({
    response_type: 'code', client_id: client.clientId, redirect_uri: client.redirectUri, scope, state: 's',
    code_challenge: pkcePair().challenge, code_challenge_method: 'S256',
  })}`, { headers: { cookie: `session=${session}` }, redirect: 'manual' });
  return new URL(res.headers.get('location') ?? '/', base).searchParams.has('code');
}

/** A remembered consent of `user` for `client`, as consent-ui records an Allow with "Remember this decision". */
async function rememberConsent(user: SeededUser, client: SeededClient): Promise<void> {
  const now = new Date();
  await system.db.collection('consents').insertOne({
    _id: `${user.sub} ${client.clientId}` as never, sub: user.sub, clientId: client.clientId, scopes: [scope], grantedScopes: [scope], createdAt: now, updatedAt: now,
  });
}

const signedInAt = async (base: string, session: string) => {
  const res = await fetch(`${base}/ui/authorizations`, { headers: { cookie: `session=${session}` }, redirect: 'manual' });
  return /Sign out/.test(await res.text());
};

/** What a failed sign-in shows, without the per-request anti-CSRF value. */
const answer = (page: Page) => ({ status: page.status, text: page.document.text.replace(/\s+/g, ' ').trim(), cookie: page.setCookies.some((c) => c.startsWith('session=')) });

/** The authorization endpoint's answer to a request from `client`, at `base`. */
async function authorizeStatus(base: string, client: SeededClient): Promise<{ status: number; html: boolean; location: string | null }> {
  const res = await fetch(`${base}/authorize?${new URLSearchParams({
    response_type: 'code', client_id: client.clientId, redirect_uri: client.redirectUri, scope, state: 's',
    code_challenge: pkcePair().challenge, code_challenge_method: 'S256',
  })}`, { redirect: 'manual' });
  const html = /^text\/html/.test(res.headers.get('content-type') ?? '');
  await res.text();
  return { status: res.status, html, location: res.headers.get('location') };
}

/**
 * Waits past the second of the last cut-off: an access token's `iat` has whole seconds, and one
 * issued in the cut-off's own second counts as issued before it (the strict side).
 */
const laterSecond = () => new Promise((r) => setTimeout(r, 1000));

const eventsAbout = async (subject: string) => collectAuditEvents(system.nc, (e: CloudEvent) => e.subject === subject);

describe('oauth-admin users disable|enable|delete, two instances of every service', () => {
  it('disable: sessions end, refresh tokens are refused and access tokens inactive everywhere within 1 s; sign-in is answered like a wrong password', async () => {
    const user = await system.seed.user();
    const client = await system.seed.client({ scopes: [scope], refreshTokens: true });
    const held: [Tokens, Tokens] = [await tokensAt(tokenEdges[0], client, user), await tokensAt(tokenEdges[1], client, user)];
    const session = await sessionOf(user);
    for (const edge of uiEdges) assert.equal(await signedInAt(edge, session), true, 'signed in at both consent-ui instances');
    await rememberConsent(user, client);
    for (const edge of authorizeEdges) assert.equal(await codeAtOnce(edge, session, client), true, `a code at once from ${edge}`);
    const events = await eventsAbout(user.username);

    await ok('users', 'disable', user.username);
    const since = Date.now();
    for (const edge of uiEdges) await within1s(since, `session ended at ${edge}`, async () => !(await signedInAt(edge, session)));
    for (const edge of authorizeEdges) await within1s(since, `no code at once from ${edge}`, async () => !(await codeAtOnce(edge, session, client)));
    await assertEnded(since, held, client);

    const wrong = await signIn(uiEdges[1], { username: user.username, password: `${user.password}x` });
    for (const edge of uiEdges) {
      const right = await signIn(edge, user);
      assert.deepEqual(answer(right.page), answer(wrong.page), 'the right password of a disabled user is answered as a wrong one');
    }
    const [disabled] = await events.waitFor('oauth.user.disabled');
    assert.equal(disabled!.data.sub, user.sub);
    await events.stop();
  });

  it('enable: the user signs in and is granted anew; what the disable ended stays ended', async () => {
    const user = await system.seed.user();
    const client = await system.seed.client({ scopes: [scope], refreshTokens: true });
    const old = await tokensAt(tokenEdges[0], client, user);
    const session = await sessionOf(user);
    const events = await eventsAbout(user.username);
    await ok('users', 'disable', user.username);
    await within1s(Date.now(), 'disabled', async () => !(await activeAnywhere(old.accessToken)));
    await ok('users', 'enable', user.username);
    const since = Date.now();
    await within1s(since, 'sign-in works again at both instances', async () => {
      const results = await Promise.all(uiEdges.map((edge) => signIn(edge, user)));
      return results.every((r) => r.page.status === 303);
    });
    assert.equal(await signedInAt(uiEdges[1], session), false, 'the old session stays ended');
    assert.equal((await refreshAt(tokenEdges[1], client, old.refreshToken)).body.error, 'invalid_grant', 'the old refresh token stays refused');
    assert.equal(await activeAnywhere(old.accessToken), false);
    await laterSecond();
    const fresh = await tokensAt(tokenEdges[1], client, user);
    assert.equal(await activeAnywhere(fresh.accessToken), true, 'a new grant after enable is honoured');
    assert.equal((await refreshAt(tokenEdges[0], client, fresh.refreshToken)).status, 200);
    await events.waitFor('oauth.user.enabled');
    await events.stop();
  });

  it('finding 2: delete ends the user\u2019s access within 1 s (sessions, refresh, validate, introspection), and the deleted user cannot sign in', async () => {
    const user = await system.seed.user();
    const client = await system.seed.client({ scopes: [scope], refreshTokens: true });
    const held: [Tokens, Tokens] = [await tokensAt(tokenEdges[1], client, user), await tokensAt(tokenEdges[0], client, user)];
    const session = await sessionOf(user);
    await rememberConsent(user, client);
    for (const edge of authorizeEdges) assert.equal(await codeAtOnce(edge, session, client), true, `a code at once from ${edge}`);
    const events = await eventsAbout(user.username);

    await ok('users', 'delete', user.username);
    const since = Date.now();
    for (const edge of uiEdges) await within1s(since, `session ended at ${edge}`, async () => !(await signedInAt(edge, session)));
    for (const edge of authorizeEdges) await within1s(since, `no code at once from ${edge}`, async () => !(await codeAtOnce(edge, session, client)));
    await assertEnded(since, held, client);
    const right = await signIn(uiEdges[0], user);
    assert.equal(right.page.status, answer((await signIn(uiEdges[0], { username: user.username, password: 'wrong-password' })).page).status);
    assert.ok(!right.page.setCookies.some((c) => c.startsWith('session=')), 'no session');
    const [deleted] = await events.waitFor('oauth.user.deleted');
    assert.equal(deleted!.data.sub, user.sub);
    await events.stop();
  });
});

describe('oauth-admin clients disable|enable|delete, two instances of every service', () => {
  it('disable: every token of the client inactive within 1 s; it cannot authenticate (invalid_client) or start an authorization (error page)', async () => {
    const [alice, bob] = [await system.seed.user(), await system.seed.user()];
    const client = await system.seed.client({ scopes: [scope], refreshTokens: true });
    const held: [Tokens, Tokens] = [await tokensAt(tokenEdges[0], client, alice), await tokensAt(tokenEdges[1], client, bob)];
    const events = await eventsAbout(client.clientId);

    await ok('clients', 'disable', client.clientId);
    const since = Date.now();
    await assertEnded(since, held, client, 'invalid_client');
    for (const edge of authorizeEdges) {
      await within1s(since, `authorization refused at ${edge}`, async () => {
        const res = await authorizeStatus(edge, client);
        return res.status === 400 && res.html && res.location === null;
      });
    }
    const [disabled] = await events.waitFor('oauth.client.disabled');
    assert.equal(disabled!.data.client_id, client.clientId);

    await ok('clients', 'enable', client.clientId);
    const enabledAt = Date.now();
    await within1s(enabledAt, 'authorization starts again', async () => (await authorizeStatus(authorizeEdges[1], client)).status === 302);
    // Each token edge reloads its clients on its own: wait for each (within 1 s), not only for the authorize edge above.
    for (const [i, edge] of tokenEdges.entries()) {
      await within1s(enabledAt, `authenticates again at ${edge}`, async () => (await refreshAt(edge, client, 'not-a-token')).body.error === 'invalid_grant');
      assert.equal((await refreshAt(edge, client, held[i]!.refreshToken)).body.error, 'invalid_grant', 'old tokens stay refused');
    }
    await laterSecond();
    const fresh = await tokensAt(tokenEdges[1], client, alice);
    assert.equal(await activeAnywhere(fresh.accessToken), true);
    await events.waitFor('oauth.client.enabled');
    await events.stop();
  });

  it('delete: every token of the client inactive and refused within 1 s; authorization shows the error page', async () => {
    const user = await system.seed.user();
    const client = await system.seed.client({ scopes: [scope], refreshTokens: true });
    const held: [Tokens, Tokens] = [await tokensAt(tokenEdges[0], client, user), await tokensAt(tokenEdges[1], client, user)];
    const events = await eventsAbout(client.clientId);
    await ok('clients', 'delete', client.clientId);
    const since = Date.now();
    await assertEnded(since, held, client, 'invalid_client');
    for (const edge of authorizeEdges) assert.equal((await authorizeStatus(edge, client)).status, 400);
    await events.waitFor('oauth.client.deleted');
    await events.stop();
  });
});

describe('oauth-admin grants list|revoke, two instances of every service', () => {
  it('lists a user\'s live grants and revokes one by its grant_id within 1 s, leaving the others', async () => {
    const user = await system.seed.user();
    const client = await system.seed.client({ scopes: [scope], refreshTokens: true });
    const first = await tokensAt(tokenEdges[0], client, user);
    const second = await tokensAt(tokenEdges[1], client, user);
    const kept = await tokensAt(tokenEdges[0], client, user);
    const grantId = grantIdOf(first.accessToken);
    const listed = JSON.parse(await ok('grants', 'list', '--user', user.username, '--json')) as { grant_id: string; client_id: string; username: string; scope: string; created: string }[];
    assert.deepEqual(listed.map((g) => g.grant_id).sort(), [first, second, kept].map((t) => grantIdOf(t.accessToken)).sort());
    const one = listed.find((g) => g.grant_id === grantId)!;
    assert.equal(one.client_id, client.clientId);
    assert.equal(one.username, user.username);
    assert.equal(one.scope, scope);
    assert.ok(!Number.isNaN(Date.parse(one.created)));
    const events = await eventsAbout(user.username);

    await ok('grants', 'revoke', grantId);
    const since = Date.now();
    await within1s(since, 'the grant\'s access token inactive', async () => !(await activeAnywhere(first.accessToken)));
    for (const edge of tokenEdges) assert.equal((await refreshAt(edge, client, first.refreshToken)).body.error, 'invalid_grant');
    assert.ok(Date.now() - since <= 1000);
    assert.equal(await activeAnywhere(kept.accessToken), true, 'another grant is untouched');
    assert.equal((await refreshAt(tokenEdges[1], client, kept.refreshToken)).status, 200);
    const after = JSON.parse(await ok('grants', 'list', '--client', client.clientId, '--json')) as Record<string, string>[];
    assert.ok(!after.some((g) => g.grant_id === grantId), 'no longer listed');
    const [revoked] = await events.waitFor('oauth.grant.revoked');
    assert.equal(revoked!.data.grant_id, grantId);
    await events.stop();
  });

  for (const by of ['--user', '--client'] as const) {
    it(`revokes every grant ${by === '--user' ? 'of a user' : 'of a client'} within 1 s; grants made afterwards are honoured`, async () => {
      const user = await system.seed.user();
      const client = await system.seed.client({ scopes: [scope], refreshTokens: true });
      const held: [Tokens, Tokens] = [await tokensAt(tokenEdges[0], client, user), await tokensAt(tokenEdges[1], client, user)];
      const target = by === '--user' ? user.username : client.clientId;
      const events = await eventsAbout(target);
      await ok('grants', 'revoke', by, target);
      await assertEnded(Date.now(), held, client);
      await events.waitFor('oauth.grant.revoked');
      await events.stop();
      await laterSecond();
      const fresh = await tokensAt(tokenEdges[1], client, user);
      assert.equal(await activeAnywhere(fresh.accessToken), true, 'a grant made after the revocation is honoured');
    });
  }

  it('grants revoke --user ends the access tokens of a client without refresh tokens (no stored family)', async () => {
    const user = await system.seed.user();
    const noRefresh = await system.seed.client({ scopes: [scope], refreshTokens: false });
    const { code, verifier } = await codeViaNats(system, noRefresh, user);
    const res = await postForm(`${tokenEdges[0]}/token`, noRefresh, { grant_type: 'authorization_code', code, redirect_uri: noRefresh.redirectUri, code_verifier: verifier });
    const accessToken = res.body.access_token as string;
    assert.equal(res.body.refresh_token, undefined);
    assert.equal(JSON.parse(await ok('grants', 'list', '--client', noRefresh.clientId, '--json')).length, 0, 'not listed: no stored family');
    const grantId = grantIdOf(accessToken);
    assert.equal((await admin('grants', 'revoke', grantId)).code, 1);
    await assert.rejects(liveGrant(system.db, grantId, new Date()), { message: `no grant "${grantId}"` }, 'no grant to revoke by id: only its code\u2019s claim is stored');
    await ok('grants', 'revoke', '--user', user.username);
    await within1s(Date.now(), 'inactive', async () => !(await activeAnywhere(accessToken)));
  });
});

describe('authorize-service for a client disabled during an authorization', () => {
  it('shows the error page for a new request at both instances', async () => {
    const client = await system.seed.client({ scopes: [scope], refreshTokens: false });
    assert.equal((await authorizeStatus(authorizeEdges[0], client)).status, 302);
    await ok('clients', 'disable', client.clientId);
    const since = Date.now();
    for (const edge of authorizeEdges) await within1s(since, 'error page', async () => (await authorizeStatus(edge, client)).status === 400);
  });
});
