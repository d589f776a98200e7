// Faults: NATS restarting under a stream of flows, the database going away and coming back, a
// token-service process killed mid-flow, and dependencies that accept a request and never answer.
// Every request the test makes has a client-side deadline that must never be hit: a fault is a
// clean 503 temporarily_unavailable (JSON on the token endpoints, a page on consent-ui) or the
// request succeeds; never a 500, never a hang. The services recover without being restarted.
import { authorizationCodeSealer } from '#shared/grants/authorization-codes.ts';
import { authorizationRequestSealer } from '#shared/grants/authorization-requests.ts';
import { keyEncryptionKey } from '#shared/keys/key-encryption.ts';
import { CommonConfigSchema, parseConfig } from '#shared/config.ts';
import { refreshTokenClaimId, refreshTokenSealer } from '#shared/grants/refresh-tokens.ts';
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { jetstreamManager } from '@nats-io/jetstream';
import { sha256 } from '#shared/crypto.ts';
import type { CloudEvent } from '#shared/audit/cloud-event.ts';
import { AUDIT_STREAM, Subjects } from '#shared/nats/subjects.ts';
import { startService, startSystem, testEnv, type SeededClient, type SeededUser, type ServiceName, type System } from './helpers/system.ts';
import { authorizeUrl, codeViaNats, pkcePair } from './helpers/oauth.ts';
import { Browser } from './helpers/browser.ts';
import { collectAuditEvents, forClient, readAuditStream } from './helpers/audit.ts';
import { ferretDbBinary, startPrivateFerretDb, type PrivateFerretDb } from './helpers/ferretdb.ts';
import { startPrivateNats, type PrivateNats } from './helpers/nats-server.ts';
import { spawnNode, waitForOk, type Spawned } from './helpers/process.ts';
import { freePort } from './helpers/ports.ts';
import { startTcpProxy } from './helpers/tcp-proxy.ts';
import { basicAuth } from './helpers/token-requests.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Raised when the test's own deadline for a request passes: the server hung. */
class Hung extends Error {}

type Reply = { status: number; headers: Headers; text: string; json?: Record<string, unknown>; ms: number };

/** fetch with a deadline of the test's own; a request that outlives it is a failure (Hung). */
async function timedFetch(url: string, init: RequestInit & { deadlineMs: number }): Promise<Reply> {
  const started = Date.now();
  const { deadlineMs, ...rest } = init;
  let res: Response;
  let text: string;
  try {
    res = await fetch(url, { redirect: 'manual', ...rest, signal: AbortSignal.timeout(deadlineMs) });
    text = await res.text();
  } catch (error) {
    if ((error as Error).name === 'TimeoutError') throw new Hung(`${init.method ?? 'GET'} ${url} got no answer within ${deadlineMs} ms`);
    throw error;
  }
  let json: Record<string, unknown> | undefined;
  if ((res.headers.get('content-type') ?? '').startsWith('application/json')) json = JSON.parse(text) as Record<string, unknown>;
  return { status: res.status, headers: res.headers, text, ...(json ? { json } : {}), ms: Date.now() - started };
}


function tokenCall(base: string, client: SeededClient, form: Record<string, string>, deadlineMs: number, path = '/token'): Promise<Reply> {
  return timedFetch(`${base}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basicAuth(client) },
    body: new URLSearchParams(form).toString(),
    deadlineMs,
  });
}

const exchangeForm = (client: SeededClient, code: string, verifier: string) =>
  ({ grant_type: 'authorization_code', code, redirect_uri: client.redirectUri, code_verifier: verifier });

/** A 503 temporarily_unavailable as the token endpoints send it (RFC 6749 §5.2 JSON, never cached). */
function assertUnavailableJson(reply: Reply, what: string): void {
  assert.equal(reply.status, 503, `${what}: ${reply.status} ${reply.text}`);
  assert.equal(reply.json?.error, 'temporarily_unavailable', what);
  assert.equal(reply.headers.get('cache-control'), 'no-store', what);
}

/** consent-ui's "try again in a moment" page. */
function assertUnavailablePage(reply: Reply, what: string): void {
  assert.equal(reply.status, 503, `${what}: ${reply.status}`);
  assert.match(reply.headers.get('content-type') ?? '', /^text\/html/, what);
  assert.match(reply.text, /temporarily unavailable/i, what);
}

async function readyz(base: string): Promise<{ status: number; checks: Record<string, boolean> }> {
  const reply = await timedFetch(`${base}/readyz`, { deadlineMs: 5000 });
  return { status: reply.status, checks: (reply.json?.checks ?? {}) as Record<string, boolean> };
}

/** Polls every edge's /readyz until each answers `status`; returns how long it took. */
async function waitForReadiness(bases: string[], status: 200 | 503, timeoutMs: number): Promise<number> {
  const started = Date.now();
  const pending = new Set(bases);
  while (pending.size > 0) {
    for (const base of [...pending]) if ((await readyz(base)).status === status) pending.delete(base);
    if (pending.size === 0) break;
    if (Date.now() - started > timeoutMs) throw new Error(`/readyz of ${[...pending].join(', ')} did not answer ${status} within ${timeoutMs} ms`);
    await sleep(100);
  }
  return Date.now() - started;
}

const edges = (system: System) => [system.urls.authorizeService, system.urls.consentUi, system.urls.tokenService, system.validationServiceUrl];

async function signedInBrowser(system: System, user: SeededUser): Promise<Browser> {
  const browser = new Browser([system.urls.authorizeService, system.urls.consentUi]);
  const page = await browser.get(`${system.urls.consentUi}/ui/`);
  const res = await browser.form(page, 'Sign in').fill('Username', user.username).fill('Password', user.password).submit('Sign in');
  assert.equal(res.status, 303, 'signed in');
  return browser;
}

describe('the database goes away and comes back', { skip: ferretDbBinary() ? false : 'no FerretDB binary to run a private database' }, () => {
  const DB_TIMEOUT_MS = 800;
  // Generous: server selection (DB_TIMEOUT_MS) plus a socket timeout (2 x DB_TIMEOUT_MS) plus slack.
  const DEADLINE_MS = 4 * DB_TIMEOUT_MS + 3000;
  let ferret: PrivateFerretDb;
  let system: System;
  let client: SeededClient;
  let user: SeededUser;

  before(async () => {
    ferret = await startPrivateFerretDb();
    // HOT_READ_CACHE_MS=0: consent-ui reads the session every time, so its pages meet the outage at once.
    system = await startSystem('faultsdb', { env: { MONGODB_URI: ferret.uri('faultsdb'), DB_TIMEOUT_MS: String(DB_TIMEOUT_MS), HOT_READ_CACHE_MS: '0' } });
    const scope = await system.seed.scope('orders');
    user = await system.seed.user();
    client = await system.seed.client({ scopes: [scope], refreshTokens: true });
  });
  after(async () => {
    await system?.stop();
    await ferret?.stop();
  });

  it('reports not ready and answers 503 temporarily_unavailable while it is away, and resumes when it is back', async () => {
    const browser = await signedInBrowser(system, user);
    const before = await codeViaNats(system, client, user);
    const tokens = await tokenCall(system.urls.tokenService, client, exchangeForm(client, before.code, before.verifier), DEADLINE_MS);
    assert.equal(tokens.status, 200, tokens.text);
    const pendingCode = await codeViaNats(system, client, user);
    const started = await timedFetch(authorizeUrl(system, {
      response_type: 'code', client_id: client.clientId, redirect_uri: client.redirectUri, scope: client.scopes.join(' '), state: 'st',
      code_challenge: pkcePair().challenge, code_challenge_method: 'S256',
    }), { deadlineMs: DEADLINE_MS });
    const handle = new URL(started.headers.get('location')!).searchParams.get('handle')!;

    await ferret.kill();
    const notReadyAfter = await waitForReadiness(edges(system), 503, 5000);
    for (const base of edges(system)) assert.equal((await readyz(base)).checks.mongodb, false, `${base} names the database`);

    // The token endpoint: code, refresh, revocation, and a client not in the cache.
    assertUnavailableJson(await tokenCall(system.urls.tokenService, client, exchangeForm(client, pendingCode.code, pendingCode.verifier), DEADLINE_MS), 'code exchange');
    assertUnavailableJson(await tokenCall(system.urls.tokenService, client, { grant_type: 'refresh_token', refresh_token: tokens.json!.refresh_token as string }, DEADLINE_MS), 'refresh');
    assertUnavailableJson(await tokenCall(system.urls.tokenService, client, { token: tokens.json!.refresh_token as string }, DEADLINE_MS, '/revoke'), 'revocation');
    assertUnavailableJson(await tokenCall(system.urls.tokenService, { ...client, clientId: 'c_not_cached' }, { grant_type: 'refresh_token', refresh_token: 'x' }, DEADLINE_MS), 'unknown client');
    // Introspection of a refresh token reads its claim.
    assertUnavailableJson(await tokenCall(system.urls.tokenService, client, { token: tokens.json!.refresh_token as string }, DEADLINE_MS, '/introspect'), 'introspection');

    // The authorization endpoint needs no database (the request is sealed into its handle): it goes on
    // handing requests to consent-ui.
    const authorize = await timedFetch(authorizeUrl(system, {
      response_type: 'code', client_id: client.clientId, redirect_uri: client.redirectUri, scope: client.scopes.join(' '), state: 'during',
      code_challenge: pkcePair().challenge, code_challenge_method: 'S256',
    }), { deadlineMs: DEADLINE_MS });
    assert.equal(authorize.status, 302, authorize.text);
    assert.equal(new URL(authorize.headers.get('location')!).pathname, '/ui/authorize');
    // A signed-in browser's request too: authorize-service cannot read the session to answer it at
    // once (answer-remembered.ts), so it leaves the request to consent-ui, and counts the failure.
    const signedInUrl = authorizeUrl(system, {
      response_type: 'code', client_id: client.clientId, redirect_uri: client.redirectUri, scope: client.scopes.join(' '), state: 'during-signed-in',
      code_challenge: pkcePair().challenge, code_challenge_method: 'S256',
    });
    const signedIn = await timedFetch(signedInUrl, { headers: { cookie: browser.jar.header(signedInUrl) }, deadlineMs: DEADLINE_MS });
    assert.equal(signedIn.status, 302, signedIn.text);
    assert.equal(new URL(signedIn.headers.get('location')!).pathname, '/ui/authorize');
    const metrics = await timedFetch(`${system.urls.authorizeService}/metrics`, { deadlineMs: DEADLINE_MS });
    assert.match(metrics.text, /^oauth_events_total\{[^}]*name="remembered_consent",outcome="failed"[^}]*\} [1-9]/m);

    // consent-ui: the pages say "try again in a moment".
    const page = (path: string) => timedFetch(`${system.urls.consentUi}${path}`, { headers: { cookie: browser.jar.header(`${system.urls.consentUi}${path}`) }, deadlineMs: DEADLINE_MS });
    assertUnavailablePage(await page(`/ui/authorize?handle=${handle}`), 'consent page');
    assertUnavailablePage(await page('/ui/authorizations'), 'your authorizations');
    const stranger = new Browser([system.urls.consentUi]);
    const form = stranger.form(await stranger.get(`${system.urls.consentUi}/ui/`), 'Sign in').fill('Username', user.username).fill('Password', user.password);
    assertUnavailablePage(await timedFetch(form.action, {
      method: 'POST', body: form.data('Sign in').toString(),
      headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: stranger.jar.header(form.action) }, deadlineMs: DEADLINE_MS,
    }), 'sign-in');

    // NATS endpoints that need the database answer a service error 503, never silence: a decision
    // is recorded there (describing a request reads nothing, so it goes on working).
    const decide = await system.nc.request(Subjects.authorizationDecide, JSON.stringify({
      handle, decision: 'approve', sub: user.sub, username: user.username, auth_time: Math.floor(Date.now() / 1000),
    }), { timeout: DEADLINE_MS });
    assert.equal(decide.headers?.get('Nats-Service-Error-Code'), '503', `decide answered ${decide.string()}`);
    assert.equal((decide.json() as { error: string }).error, 'temporarily_unavailable');
    const describe = await system.nc.request(Subjects.authorizationDescribe, JSON.stringify({ handle }), { timeout: DEADLINE_MS });
    assert.equal((describe.json() as { client_id: string }).client_id, client.clientId);
    // What validation-service answers from memory goes on being answered.
    const validate = await system.nc.request(Subjects.tokenValidate, JSON.stringify({ token: tokens.json!.access_token }), { timeout: DEADLINE_MS });
    assert.equal((validate.json() as { active: boolean }).active, true);

    await ferret.start();
    const readyAfter = await waitForReadiness(edges(system), 200, 20_000);
    const after = await codeViaNats(system, client, user);
    const exchanged = await tokenCall(system.urls.tokenService, client, exchangeForm(client, after.code, after.verifier), DEADLINE_MS);
    assert.equal(exchanged.status, 200, exchanged.text);
    const refreshed = await tokenCall(system.urls.tokenService, client, { grant_type: 'refresh_token', refresh_token: tokens.json!.refresh_token as string }, DEADLINE_MS);
    assert.equal(refreshed.status, 200, refreshed.text);
    assert.equal((await page('/ui/authorizations')).status, 200);
    process.stdout.write(`# database away: not ready after ${notReadyAfter} ms; ready again ${readyAfter} ms after it came back\n`);
  });
});

describe('every NATS request and database call has a deadline', () => {
  const NATS_REQUEST_TIMEOUT_MS = 600;
  const DB_TIMEOUT_MS = 600;
  let system: System;
  let blackHole: { unsubscribe(): void };

  before(async () => {
    // consent-ui without authorize-service, and a responder on decide that never answers.
    system = await startSystem('faultsslow', { services: ['consent-ui'], env: { NATS_REQUEST_TIMEOUT_MS: String(NATS_REQUEST_TIMEOUT_MS), DB_TIMEOUT_MS: String(DB_TIMEOUT_MS) } });
    blackHole = system.nc.subscribe(Subjects.authorizationDecide, { callback: () => undefined });
    await system.nc.flush();
  });
  after(async () => {
    blackHole?.unsubscribe();
    await system?.stop();
  });

  it('consent-ui answers 503 within NATS_REQUEST_TIMEOUT_MS when authorize-service takes the decision and never answers', async () => {
    const client = await system.seed.client({ name: 'Slow Shop', scopes: [await system.seed.scope('orders', 'Read your orders')] });
    const user = await system.seed.user();
    // The request authorize-service would have sealed (the suite's services run on the development key).
    const handle = authorizationRequestSealer(keyEncryptionKey(parseConfig(CommonConfigSchema, {}))).seal({
      id: 'slow-decision', clientId: client.clientId, redirectUri: client.redirectUri, redirectUriSent: true,
      scopes: client.scopes, state: 'st', codeChallenge: undefined,
    }, new Date(Date.now() + 60_000));
    const browser = new Browser([system.urls.consentUi]);
    const signInPage = await browser.get(`${system.urls.consentUi}/ui/authorize?handle=${handle}`);
    const signedIn = await browser.form(signInPage, 'Sign in').fill('Username', user.username).fill('Password', user.password).submit('Sign in');
    const consentPage = await browser.follow(signedIn);
    const allow = browser.form(consentPage, 'Allow');
    const started = Date.now();
    const answered = await allow.submit('Allow');
    const ms = Date.now() - started;
    assert.equal(answered.status, 503, answered.html);
    assert.match(answered.html, /temporarily unavailable/i);
    assert.ok(ms >= NATS_REQUEST_TIMEOUT_MS - 50 && ms < NATS_REQUEST_TIMEOUT_MS + 2000, `answered after ${ms} ms`);
  });

  it('a service whose database accepts connections and never answers fails to start within DB_TIMEOUT_MS', async () => {
    const silent = await startTcpProxy();
    try {
      const env = await testEnv('faultsslow', { NATS_URL: system.env.NATS_URL!, MONGODB_URI: `mongodb://127.0.0.1:${silent.port}/silent`, DB_TIMEOUT_MS: String(DB_TIMEOUT_MS) });
      const names: ServiceName[] = ['authorize-service', 'consent-ui', 'token-service', 'validation-service'];
      const outcomes = await Promise.all(names.map(async (name) => {
        const started = Date.now();
        const result = await Promise.race([
          startService(name, env).then(async (s) => { await s.stop(); return 'started'; }, () => 'failed'),
          sleep(DB_TIMEOUT_MS * 3 + 5000).then(() => 'hung'),
        ]);
        return { name, result, ms: Date.now() - started };
      }));
      for (const { name, result, ms } of outcomes) {
        assert.equal(result, 'failed', `${name}: ${result}`);
        assert.ok(ms < DB_TIMEOUT_MS * 3 + 2000, `${name} gave up after ${ms} ms`);
      }
    } finally {
      await silent.stop();
    }
  });

  it('a database that stops answering makes /readyz 503 and requests 503 within the deadline, and service resumes when it answers again', async () => {
    const target = new URL(system.env.MONGODB_URI!);
    const proxy = await startTcpProxy({ host: target.hostname, port: Number(target.port || 27017) });
    const proxied = new URL(system.env.MONGODB_URI!);
    proxied.host = `127.0.0.1:${proxy.port}`;
    const env = { ...system.env, MONGODB_URI: proxied.toString(), TOKEN_SERVICE_PORT: String(await freePort()) };
    const tokenService = await startService('token-service', env);
    const base = `http://127.0.0.1:${env.TOKEN_SERVICE_PORT}`;
    try {
      const scope = await system.seed.scope('orders');
      const client = await system.seed.client({ scopes: [scope] });
      assert.equal((await readyz(base)).status, 200);
      proxy.silence();
      const deadline = DB_TIMEOUT_MS * 4 + 3000;
      const ready = await readyz(base);
      assert.equal(ready.status, 503);
      assert.equal(ready.checks.mongodb, false);
      const refused = await tokenCall(base, client, { grant_type: 'refresh_token', refresh_token: 'rt' }, deadline);
      assertUnavailableJson(refused, 'refresh while the database hangs');
      proxy.resume();
      await waitForReadiness([base], 200, 10_000);
      const answered = await tokenCall(base, client, { grant_type: 'refresh_token', refresh_token: 'rt' }, deadline);
      assert.equal(answered.status, 400, answered.text);
      assert.equal(answered.json?.error, 'invalid_grant');
      process.stdout.write(`# database hanging: token request answered 503 after ${refused.ms} ms (DB_TIMEOUT_MS ${DB_TIMEOUT_MS})\n`);
    } finally {
      await tokenService.stop();
      await proxy.stop();
    }
  });
});


const claimsOf = (accessToken: string) => JSON.parse(Buffer.from(accessToken.split('.')[1]!, 'base64url').toString()) as { jti: string; gid: string };

describe('NATS restarts during a stream of flows', () => {
  const NATS_DOWN_MS = 2000;
  const DEADLINE_MS = 10_000;
  let nats: PrivateNats;
  let system: System;

  before(async () => {
    nats = await startPrivateNats();
    system = await startSystem('faultsnats', { env: { NATS_URL: nats.url, NATS_REQUEST_TIMEOUT_MS: '1500' } });
  });
  after(async () => {
    await system?.stop();
    await nats?.stop();
  });

  type Flow = { phase: 'before' | 'during' | 'after'; authorize?: 'ok' | 'unavailable'; consent?: 'ok' | 'unavailable'; exchange?: 'ok' | 'unavailable'; jti?: string; gid?: string };

  it('keeps flows failing cleanly (503) or succeeding, recovers by itself, and loses or doubles no audit event', async () => {
    const scope = await system.seed.scope('orders');
    const user = await system.seed.user();
    const client = await system.seed.client({ scopes: [scope], refreshTokens: true });
    // A remembered consent: from now on the pages answer with the code at once.
    const browser = await signedInBrowser(system, user);
    const { challenge } = pkcePair();
    const first = await browser.navigate(authorizeUrl(system, {
      response_type: 'code', client_id: client.clientId, redirect_uri: client.redirectUri, scope, state: 'remember', code_challenge: challenge, code_challenge_method: 'S256',
    }));
    const remembered = await browser.form(first, 'Allow').check('Remember this decision').submit('Allow');
    assert.equal(remembered.status, 303);
    const fromSeq = (await (await jetstreamManager(system.nc)).streams.info(AUDIT_STREAM)).state.last_seq + 1;

    let phase: Flow['phase'] = 'before';
    let running = true;
    const flows: Flow[] = [];
    const failures: Error[] = [];

    async function oneFlow(i: number): Promise<void> {
      const flow: Flow = { phase };
      flows.push(flow);
      const { verifier, challenge } = pkcePair();
      const authorize = await timedFetch(authorizeUrl(system, {
        response_type: 'code', client_id: client.clientId, redirect_uri: client.redirectUri, scope, state: `s${i}`, code_challenge: challenge, code_challenge_method: 'S256',
      }), { deadlineMs: DEADLINE_MS });
      assert.equal(authorize.status, 302, `authorize: ${authorize.status} ${authorize.text}`);
      const handoff = new URL(authorize.headers.get('location')!);
      if (handoff.origin !== new URL(system.urls.consentUi).origin) {
        assert.equal(handoff.searchParams.get('error'), 'temporarily_unavailable', handoff.toString());
        flow.authorize = 'unavailable';
        return;
      }
      flow.authorize = 'ok';
      const consent = await timedFetch(handoff.toString(), { headers: { cookie: browser.jar.header(handoff.toString()) }, deadlineMs: DEADLINE_MS });
      if (consent.status === 503) {
        assertUnavailablePage(consent, 'consent page');
        flow.consent = 'unavailable';
        return;
      }
      assert.equal(consent.status, 302, `consent-ui: ${consent.status} ${consent.text.slice(0, 200)}`);
      const code = new URL(consent.headers.get('location')!).searchParams.get('code');
      assert.ok(code, consent.headers.get('location')!);
      flow.consent = 'ok';
      const exchange = await tokenCall(system.urls.tokenService, client, exchangeForm(client, code, verifier), DEADLINE_MS);
      if (exchange.status === 503) {
        assertUnavailableJson(exchange, 'code exchange');
        flow.exchange = 'unavailable';
        return;
      }
      assert.equal(exchange.status, 200, exchange.text);
      flow.exchange = 'ok';
      Object.assign(flow, claimsOf(exchange.json!.access_token as string));
    }

    // Codes obtained now and exchanged while NATS is down: the token endpoint needs only the
    // database, and its audit events go through the outbox.
    const held: { code: string; verifier: string; flow: Flow }[] = [];
    for (let i = 0; i < 4; i++) {
      const { verifier, challenge } = pkcePair();
      const handoff = (await timedFetch(authorizeUrl(system, {
        response_type: 'code', client_id: client.clientId, redirect_uri: client.redirectUri, scope, state: `h${i}`, code_challenge: challenge, code_challenge_method: 'S256',
      }), { deadlineMs: DEADLINE_MS })).headers.get('location')!;
      const consent = await timedFetch(handoff, { headers: { cookie: browser.jar.header(handoff) }, deadlineMs: DEADLINE_MS });
      const flow: Flow = { phase: 'during', authorize: 'ok', consent: 'ok' };
      flows.push(flow);
      held.push({ code: new URL(consent.headers.get('location')!).searchParams.get('code')!, verifier, flow });
    }
    const outbox = system.db.collection('audit_outbox');
    let outboxPeak = 0;
    const outboxWatch = setInterval(() => void outbox.countDocuments().then((n) => (outboxPeak = Math.max(outboxPeak, n)), () => undefined), 100);
    outboxWatch.unref();

    let next = 0;
    const workers = Array.from({ length: 3 }, async () => {
      // Bounded in count as well as in time.
      while (running && next < 300) {
        try {
          await oneFlow(next++);
        } catch (error) {
          failures.push(error as Error);
        }
      }
    });
    const natsDown = () => nats.process.exitCode !== null || nats.process.signalCode !== null;
    let notReadyAfter: number;
    let readyAfter: number;
    try {
      await sleep(800);
      phase = 'during';
      const exited = new Promise((resolve) => nats.process.once('exit', resolve));
      nats.process.kill('SIGTERM');
      await exited;
      const downAt = Date.now();
      notReadyAfter = await waitForReadiness(edges(system), 503, NATS_DOWN_MS + 3000);
      for (const base of edges(system)) assert.equal((await readyz(base)).checks.nats, false, `${base} names NATS`);
      for (const { code, verifier, flow } of held) {
        const exchange = await tokenCall(system.urls.tokenService, client, exchangeForm(client, code, verifier), DEADLINE_MS);
        assert.equal(exchange.status, 200, `the token endpoint works without NATS: ${exchange.text}`);
        Object.assign(flow, { exchange: 'ok' }, claimsOf(exchange.json!.access_token as string));
      }
      await sleep(Math.max(0, NATS_DOWN_MS - (Date.now() - downAt)));
      await nats.restart();
      readyAfter = await waitForReadiness(edges(system), 200, 15_000);
      phase = 'after';
      const completedBefore = flows.filter((f) => f.exchange === 'ok').length;
      const deadline = Date.now() + 15_000;
      while (flows.filter((f) => f.exchange === 'ok').length < completedBefore + 5 && Date.now() < deadline) await sleep(100);
    } finally {
      running = false;
      await Promise.all(workers);
      // Whatever failed, the services get their NATS back (stopping them needs it).
      if (natsDown()) await nats.restart();
    }

    assert.deepEqual(failures.map((e) => e.message), [], 'every request succeeded or failed cleanly with a 503, within its deadline');
    const count = (p: Flow['phase'], pred: (f: Flow) => boolean) => flows.filter((f) => f.phase === p && pred(f)).length;
    const completed = flows.filter((f) => f.exchange === 'ok');
    assert.ok(count('before', (f) => f.exchange === 'ok') > 0, 'flows completed before the restart');
    assert.ok(count('after', (f) => f.exchange === 'ok') >= 5, 'flows complete again after the restart');
    // Every service declared on NATS is back (its Svcm registration survived the reconnect).
    // (The test's own connection may still be reconnecting: asked again until a deadline.)
    for (const name of ['authorize-service', 'consent-ui', 'token-service', 'validation-service']) {
      const pingDeadline = Date.now() + 15_000;
      let info = await system.nc.request(`$SRV.PING.${name}`, '', { timeout: 3000 }).catch((error: Error) => error);
      while (info instanceof Error && Date.now() < pingDeadline) {
        await sleep(250);
        info = await system.nc.request(`$SRV.PING.${name}`, '', { timeout: 3000 }).catch((error: Error) => error);
      }
      assert.ok(!(info instanceof Error), `$SRV.PING.${name}: ${(info as Error).message}`);
      assert.equal((info.json() as { name: string }).name, name);
    }

    // Exactly once: no event id twice; for every completed flow one code.issued (by grant) and one
    // token.issued (by jti); one authorization.requested per request the authorization endpoint
    // took. Events whose publish was not acked are relayed from the outbox: wait until nothing is
    // missing, the outbox is empty, and two reads a second apart agree.
    const taken = flows.filter((f) => f.authorize === 'ok').length;
    const ours = (e: CloudEvent) => e.subject === client.clientId || e.data.client_id === client.clientId;
    const missing = (events: CloudEvent[]) => {
      const ofType = (type: string) => events.filter((e) => e.type === type);
      const gaps: string[] = [];
      if (ofType('oauth.authorization.requested').length < taken) gaps.push(`authorization.requested ${ofType('oauth.authorization.requested').length}/${taken}`);
      for (const flow of completed) {
        if (!ofType('oauth.token.issued').some((e) => e.data.jti === flow.jti)) gaps.push(`token.issued ${flow.jti}`);
        if (!ofType('oauth.code.issued').some((e) => e.data.grant_id === flow.gid)) gaps.push(`code.issued ${flow.gid}`);
      }
      return gaps;
    };
    const settleDeadline = Date.now() + 20_000;
    let events: CloudEvent[] = [];
    let previous = -1;
    for (;;) {
      const stored = await outbox.countDocuments();
      events = (await readAuditStream(system.nc, fromSeq)).filter(ours);
      if ((stored === 0 && missing(events).length === 0 && events.length === previous) || Date.now() > settleDeadline) break;
      previous = stored === 0 && missing(events).length === 0 ? events.length : -1;
      await sleep(1000);
    }
    clearInterval(outboxWatch);
    assert.equal(await outbox.countDocuments(), 0, 'the audit outbox drained');
    assert.deepEqual(missing(events), [], 'every event of every completed flow reached OAUTH_AUDIT');
    const ids = events.map((e) => e.id);
    assert.equal(new Set(ids).size, ids.length, 'no event twice');
    const ofType = (type: string) => events.filter((e) => e.type === type);
    assert.equal(ofType('oauth.authorization.requested').length, taken, 'authorization.requested once per request taken');
    assert.equal(ofType('oauth.token.issued').length, completed.length, 'token.issued once per successful exchange');
    for (const flow of completed) {
      assert.equal(ofType('oauth.token.issued').filter((e) => e.data.jti === flow.jti).length, 1, `token.issued for ${flow.jti}`);
      assert.equal(ofType('oauth.code.issued').filter((e) => e.data.grant_id === flow.gid).length, 1, `code.issued for ${flow.gid}`);
    }
    const grants = ofType('oauth.code.issued').map((e) => e.data.grant_id);
    assert.equal(new Set(grants).size, grants.length, 'one code.issued per grant');
    // A decision whose reply was lost to the outage still issued its code (and said so, once).
    assert.equal(ofType('oauth.authorization.approved').length, grants.length, 'authorization.approved once per code issued');
    assert.ok(grants.length >= flows.filter((f) => f.consent === 'ok').length);

    const summary = (['before', 'during', 'after'] as const).map((p) =>
      `${p}: ${count(p, () => true)} flows, ${count(p, (f) => f.exchange === 'ok')} completed, ${count(p, (f) => f.authorize === 'unavailable' || f.consent === 'unavailable' || f.exchange === 'unavailable')} refused with 503`).join('; ');
    process.stdout.write(`# NATS down ${NATS_DOWN_MS} ms: not ready after ${notReadyAfter} ms, ready ${readyAfter} ms after restart; ${summary}; ` +
      `outbox held up to ${outboxPeak} event(s); ${events.length} audit events checked\n`);
  });
});

describe('a token-service instance is killed mid-flow', () => {
  let system: System;
  const instances: { base: string; process: Spawned }[] = [];

  before(async () => {
    system = await startSystem('faultskill', { services: ['authorize-service'] });
    // Two real token-service processes on one NATS and one database; the first creates the signing key.
    for (let i = 0; i < 2; i++) {
      const port = await freePort();
      const process = spawnNode(['services/token-service/main.ts'], { ...system.env, TOKEN_SERVICE_PORT: String(port) });
      const base = `http://127.0.0.1:${port}`;
      instances.push({ base, process });
      await waitForOk(`${base}/readyz`);
    }
  });
  after(async () => {
    for (const { process } of instances) {
      if (process.child.exitCode === null && process.child.signalCode === null) {
        process.child.kill('SIGTERM');
        await process.exited;
      }
    }
    await system?.stop();
  });

  it('redeems no code twice, leaves no refresh token family half-rotated, and the other instance carries the load', async () => {
    const [a, b] = instances as [typeof instances[0], typeof instances[0]];
    const scope = await system.seed.scope('orders');
    const user = await system.seed.user();
    const client = await system.seed.client({ scopes: [scope], refreshTokens: true });
    const DEADLINE_MS = 10_000;

    // Refresh token families to rotate during the storm, and codes to redeem in it.
    const families: { grantId: string; refreshToken: string; held: string; outcome?: number }[] = [];
    for (let i = 0; i < 16; i++) {
      const { code, verifier } = await codeViaNats(system, client, user);
      const tokens = await tokenCall(i % 2 ? a.base : b.base, client, exchangeForm(client, code, verifier), DEADLINE_MS);
      assert.equal(tokens.status, 200, tokens.text);
      const refreshToken = tokens.json!.refresh_token as string;
      families.push({ grantId: claimsOf(tokens.json!.access_token as string).gid, refreshToken, held: refreshToken });
    }
    const codes: { code: string; verifier: string; statuses: number[]; redeemedBy?: string }[] = [];
    for (let i = 0; i < 30; i++) codes.push({ ...(await codeViaNats(system, client, user)), statuses: [] });
    const audit = await collectAuditEvents(system.nc, forClient(client.clientId));

    let killedAt = 0;
    const lost: string[] = [];
    /** One request to `first`; when that instance is gone (no answer), the same request to the other, as a load balancer would. */
    async function call(first: typeof a, form: Record<string, string>): Promise<Reply & { by: typeof a }> {
      try {
        return { ...(await tokenCall(first.base, client, form, DEADLINE_MS)), by: first };
      } catch (error) {
        if (error instanceof Hung || first !== a) throw error;
        lost.push((error as Error).message);
        return { ...(await tokenCall(b.base, client, form, DEADLINE_MS)), by: b };
      }
    }

    const storm = [
      // Each code is presented twice at once, once at each instance.
      ...codes.flatMap((c, i) => [a, b].map(async (instance) => {
        await sleep(i * 12);
        const reply = await call(instance, exchangeForm(client, c.code, c.verifier));
        c.statuses.push(reply.status);
        if (reply.status === 200) c.redeemedBy = reply.by.base;
      })),
      // Each family is refreshed once, at one instance or the other.
      ...families.map(async (f, i) => {
        await sleep(i * 20);
        const reply = await call(i % 2 ? a : b, { grant_type: 'refresh_token', refresh_token: f.refreshToken });
        f.outcome = reply.status;
        if (reply.status === 200) f.held = reply.json!.refresh_token as string;
      }),
      (async () => {
        await sleep(150);
        a.process.child.kill('SIGKILL');
        killedAt = Date.now();
      })(),
    ];
    await Promise.all(storm);
    const { signal } = await a.process.exited;
    assert.equal(signal, 'SIGKILL');
    assert.ok(killedAt > 0);

    // No code redeemed twice; a code both of whose requests were answered was redeemed once.
    for (const c of codes) {
      assert.ok(c.statuses.every((s) => s === 200 || s === 400), `only 200 or invalid_grant: ${c.statuses.join(',')}`);
      assert.ok(c.statuses.filter((s) => s === 200).length <= 1, `one redemption at most: ${c.statuses.join(',')}`);
    }
    // In the database: every code's grant has its one refresh token family (stored by the winning
    // redemption, or revoked in its place by the replay), and no grant got tokens twice (token.issued
    // is emitted by the one redemption that won; one that died with instance A may have taken its event along).
    // (Codes are sealed: the suite's services run on the development key, so the test can open them.)
    const sealedCodes = authorizationCodeSealer(keyEncryptionKey(parseConfig(CommonConfigSchema, {})));
    const grantOf = new Map(codes.map((c) => [sha256(c.code), sealedCodes.open(c.code)!.payload.grantId]));
    assert.equal(new Set(grantOf.values()).size, codes.length);
    const familyCount = await system.db.collection('refresh_token_families').countDocuments({ _id: { $in: [...grantOf.values()] } as never });
    assert.equal(familyCount, codes.length, 'one family per code');
    await sleep(1000);
    for (const c of codes) {
      const issued = audit.ofType('oauth.token.issued').filter((e) => e.data.grant_id === grantOf.get(sha256(c.code))).length;
      assert.ok(issued <= 1, `tokens issued once at most for a code (${issued})`);
      if (c.redeemedBy === b.base) assert.equal(issued, 1, 'the surviving instance reported its redemption');
    }
    await audit.stop();

    // Every family: either revoked, or the refresh token the client holds works (and a token that
    // came back in a 200 is the one that works).
    const refreshTokens = refreshTokenSealer(keyEncryptionKey(parseConfig(CommonConfigSchema, {})));
    const familyDocs = new Map((await system.db.collection<{ _id: string; revokedAt?: Date | null }>('refresh_token_families')
      .find({ _id: { $in: families.map((f) => f.grantId) } }).toArray()).map((d) => [d._id, d]));
    let revoked = 0;
    for (const f of families) {
      assert.ok(f.outcome === 200 || f.outcome === 400, `refresh answered ${f.outcome}`);
      const doc = familyDocs.get(f.grantId);
      assert.ok(doc, 'the family exists');
      const revokedClaim = await system.db.collection('grant_claims').findOne({ _id: `revoked:${f.grantId}` as never });
      const isRevoked = (doc.revokedAt ?? null) !== null || revokedClaim !== null;
      const heldSpent = await system.db.collection('grant_claims').countDocuments({ _id: refreshTokenClaimId(refreshTokens.open(f.held)!.payload) as never });
      const again = await tokenCall(b.base, client, { grant_type: 'refresh_token', refresh_token: f.held }, DEADLINE_MS);
      if (isRevoked) {
        revoked++;
        assert.notEqual(f.outcome, 200, 'a family whose refresh answered 200 was not revoked by the crash');
        assert.equal(again.status, 400, 'a revoked family refuses its token');
      } else {
        assert.equal(heldSpent, 0, 'the token the client holds is the unspent one');
        assert.equal(again.status, 200, `the current refresh token works: ${again.text}`);
      }
    }

    // The surviving instance carries on.
    const fresh = await codeViaNats(system, client, user);
    assert.equal((await tokenCall(b.base, client, exchangeForm(client, fresh.code, fresh.verifier), DEADLINE_MS)).status, 200);
    const redeemed = codes.filter((c) => c.statuses.includes(200)).length;
    process.stdout.write(`# SIGKILL mid-flow: ${lost.length} request(s) lost with the instance and retried on the other; ` +
      `${redeemed}/${codes.length} codes answered one 200 and one invalid_grant (no 200 where the winning redemption died with the instance), ${families.filter((f) => f.outcome === 200).length}/${families.length} refreshes answered 200, ${revoked} families revoked\n`);
  });
});
