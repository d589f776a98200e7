// Rolling restart: two processes of every service on one NATS and one database, a steady load of
// code flows, refreshes and validations, and every instance of every service restarted one after
// another (SIGTERM, wait for its exit, start it again, wait for /readyz). The clients retry
// nothing: each edge is reached through a client-side balancer that sends requests only to the
// instances whose /readyz answers 200 (as a Kubernetes Service does), and validations go over NATS
// to the queue group. The clients see no error; no code is redeemed twice; every token issued has
// its audit event.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { CloudEvent } from '#shared/audit/cloud-event.ts';
import { Subjects } from '#shared/nats/subjects.ts';
import { freePort, startSystem, ServiceNames, type SeededClient, type ServiceName, type System } from './helpers/system.ts';
import { authorizeUrl, pkcePair } from './helpers/oauth.ts';
import { Browser } from './helpers/browser.ts';
import { collectAuditEvents, forClient, type AuditCollector } from './helpers/audit.ts';
import { spawnNode, waitForOk, type Spawned } from './helpers/process.ts';
import { basicAuth } from './helpers/token-requests.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** The client's own deadline for one request: reaching it is an error like any other. */
const DEADLINE_MS = 8000;
/** How long a stopping instance serves on, not ready, before it closes (the balancer polls every 50 ms). */
const DRAIN_DELAY_MS = 400;

type Instance = { service: ServiceName; index: number; port: number; process: Spawned; ready: boolean };

const portVariable: Record<ServiceName, string> = {
  'authorize-service': 'AUTHORIZE_SERVICE_PORT', 'consent-ui': 'CONSENT_UI_PORT', 'token-service': 'TOKEN_SERVICE_PORT', 'validation-service': 'VALIDATION_SERVICE_PORT',
};

let system: System;
const instances: Instance[] = [];
let polling = true;
let poller: Promise<void> | undefined;

function spawnInstance(service: ServiceName, port: number): Spawned {
  return spawnNode([`services/${service}/main.ts`], {
    ...system.env, [portVariable[service]]: String(port), SHUTDOWN_DRAIN_DELAY_MS: String(DRAIN_DELAY_MS), SHUTDOWN_TIMEOUT_MS: '8000',
  });
}

const isRunning = (p: Spawned) => p.child.exitCode === null && p.child.signalCode === null;

/**
 * Polls every instance's /readyz: what the balancer routes by. A 503 or a refused connection takes
 * an instance out; a probe that is merely slow (a loaded machine) changes nothing.
 */
async function pollReadiness(): Promise<void> {
  while (polling) {
    await Promise.all(instances.map(async (instance) => {
      try {
        const res = await fetch(`http://127.0.0.1:${instance.port}/readyz`, { signal: AbortSignal.timeout(2000) });
        await res.arrayBuffer();
        instance.ready = res.status === 200;
      } catch (error) {
        if ((error as Error).name !== 'TimeoutError') instance.ready = false;
      }
    }));
    await sleep(50);
  }
}

let turn = 0;
/** A ready instance of `service`, in turn (waiting a little for one, as a balancer queues). */
async function pick(service: ServiceName): Promise<string> {
  const deadline = Date.now() + DEADLINE_MS;
  for (;;) {
    const ready = instances.filter((i) => i.service === service && i.ready);
    if (ready.length > 0) return `http://127.0.0.1:${ready[turn++ % ready.length]!.port}`;
    if (Date.now() > deadline) throw new Error(`no ready ${service} instance`);
    await sleep(20);
  }
}

before(async () => {
  system = await startSystem('rolling', { services: [] });
  // Sequential: the first token-service creates the signing key, and services create indexes and the stream in turn.
  for (const service of ServiceNames) {
    for (let index = 0; index < 2; index++) {
      const port = index === 0 ? Number(system.env[portVariable[service]]) : await freePort();
      const instance: Instance = { service, index, port, process: spawnInstance(service, port), ready: false };
      instances.push(instance);
      await waitForOk(`http://127.0.0.1:${port}/readyz`, 30_000);
    }
  }
  poller = pollReadiness();
});

after(async () => {
  polling = false;
  await poller;
  for (const { process } of instances) {
    if (isRunning(process)) {
      process.child.kill('SIGKILL');
      await process.exited;
    }
  }
  await system?.stop();
});

type Kind = 'authorize' | 'consent' | 'token (code)' | 'token (refresh)' | 'validate';
const kinds: Kind[] = ['authorize', 'consent', 'token (code)', 'token (refresh)', 'validate'];

/** Requests and errors by kind; every error kept with what it was. */
class Tally {
  readonly requests = new Map<Kind, number>(kinds.map((k) => [k, 0]));
  readonly errors = new Map<Kind, string[]>(kinds.map((k) => [k, []]));
  async count<T>(kind: Kind, call: () => Promise<T>, ok: (value: T) => string | undefined): Promise<T | undefined> {
    this.requests.set(kind, this.requests.get(kind)! + 1);
    try {
      const value = await call();
      const problem = ok(value);
      if (problem === undefined) return value;
      this.errors.get(kind)!.push(problem);
    } catch (error) {
      this.errors.get(kind)!.push(`${(error as Error).name}: ${(error as Error).message}`);
    }
    return undefined;
  }
  summary(): string {
    return kinds.map((k) => `${k} ${this.requests.get(k)} requests / ${this.errors.get(k)!.length} errors`).join('; ');
  }
}

type Issued = { jti: string; grant: string; via: 'code' | 'refresh' };
const claimsOf = (accessToken: string) => JSON.parse(Buffer.from(accessToken.split('.')[1]!, 'base64url').toString()) as { jti: string; gid: string };

/** One flow through the balancer: authorize, consent (remembered), code exchange, refresh, two validations. */
async function oneFlow(tally: Tally, client: SeededClient, session: string, issued: Issued[], codes: string[]): Promise<void> {
  const { verifier, challenge } = pkcePair();
  const started = await tally.count('authorize', async () => {
    const url = new URL(authorizeUrl(system, {
      response_type: 'code', client_id: client.clientId, redirect_uri: client.redirectUri, scope: client.scopes.join(' '), state: 's',
      code_challenge: challenge, code_challenge_method: 'S256',
    }));
    return fetch(`${await pick('authorize-service')}${url.pathname}${url.search}`, { redirect: 'manual', signal: AbortSignal.timeout(DEADLINE_MS) });
  }, (res) => (res.status === 302 && new URL(res.headers.get('location')!).pathname === '/ui/authorize' ? undefined : `status ${res.status} ${res.headers.get('location')}`));
  if (!started) return;
  const handoff = new URL(started.headers.get('location')!);
  const consent = await tally.count('consent', async () => fetch(`${await pick('consent-ui')}${handoff.pathname}${handoff.search}`, {
    redirect: 'manual', headers: { cookie: `session=${session}` }, signal: AbortSignal.timeout(DEADLINE_MS),
  }), (res) => (res.status === 302 && new URL(res.headers.get('location')!).searchParams.has('code') ? undefined : `status ${res.status}`));
  if (!consent) return;
  const code = new URL(consent.headers.get('location')!).searchParams.get('code')!;
  codes.push(code);
  const tokens = await tally.count('token (code)', () => tokenCall(client, {
    grant_type: 'authorization_code', code, redirect_uri: client.redirectUri, code_verifier: verifier,
  }), (r) => (r.status === 200 ? undefined : `status ${r.status} ${JSON.stringify(r.body)}`));
  if (!tokens) return;
  issued.push({ jti: claimsOf(tokens.body.access_token as string).jti, grant: claimsOf(tokens.body.access_token as string).gid, via: 'code' });
  await validate(tally, tokens.body.access_token as string);
  const refreshed = await tally.count('token (refresh)', () => tokenCall(client, { grant_type: 'refresh_token', refresh_token: tokens.body.refresh_token as string }),
    (r) => (r.status === 200 ? undefined : `status ${r.status} ${JSON.stringify(r.body)}`));
  if (!refreshed) return;
  issued.push({ jti: claimsOf(refreshed.body.access_token as string).jti, grant: claimsOf(refreshed.body.access_token as string).gid, via: 'refresh' });
  await validate(tally, refreshed.body.access_token as string);
}

async function tokenCall(client: SeededClient, form: Record<string, string>): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${await pick('token-service')}/token`, {
    method: 'POST', body: new URLSearchParams(form).toString(),
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basicAuth(client) }, signal: AbortSignal.timeout(DEADLINE_MS),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

async function validate(tally: Tally, token: string): Promise<void> {
  await tally.count('validate', async () => (await system.nc.request(Subjects.tokenValidate, JSON.stringify({ token }), { timeout: DEADLINE_MS })),
    (msg) => (!msg.headers?.get('Nats-Service-Error') && msg.json<{ active: boolean }>().active === true ? undefined : `reply ${msg.string()}`));
}

/** SIGTERM, its exit (code 0, within its shutdown timeout), the same port again, and /readyz 200. */
async function restart(instance: Instance): Promise<{ stopMs: number; startMs: number }> {
  const t0 = Date.now();
  instance.process.child.kill('SIGTERM');
  const exit = await instance.process.exited;
  assert.equal(exit.code, 0, `${instance.service} #${instance.index} exits cleanly: ${JSON.stringify(exit)} ${instance.process.output().slice(-500)}`);
  const t1 = Date.now();
  instance.ready = false;
  instance.process = spawnInstance(instance.service, instance.port);
  await waitForOk(`http://127.0.0.1:${instance.port}/readyz`, 30_000);
  return { stopMs: t1 - t0, startMs: Date.now() - t1 };
}

describe('a rolling restart of every service', () => {
  let audit: AuditCollector;
  after(async () => audit?.stop());

  it('loses no request, redeems no code twice and loses no audit event', { timeout: 150_000 }, async () => {
    const scope = await system.seed.scope('orders');
    const user = await system.seed.user();
    const client = await system.seed.client({ scopes: [scope], refreshTokens: true });
    await sleep(300);
    // Signed in, with a remembered consent: from then on the consent page answers with the code at once.
    const consentUi = `http://localhost:${system.env.CONSENT_UI_PORT}`;
    const browser = new Browser([system.urls.authorizeService, consentUi]);
    const signIn = await browser.form(await browser.get(`${consentUi}/ui/`), 'Sign in').fill('Username', user.username).fill('Password', user.password).submit('Sign in');
    assert.equal(signIn.status, 303);
    const page = await browser.navigate(authorizeUrl(system, {
      response_type: 'code', client_id: client.clientId, redirect_uri: client.redirectUri, scope, state: 'remember',
      code_challenge: pkcePair().challenge, code_challenge_method: 'S256',
    }));
    assert.equal((await browser.form(page, 'Allow').check('Remember this decision').submit('Allow')).status, 303);
    const session = browser.jar.get(consentUi, 'session')!.value;
    audit = await collectAuditEvents(system.nc, forClient(client.clientId));

    const tally = new Tally();
    const issued: Issued[] = [];
    const codes: string[] = [];
    let running = true;
    const workers = Array.from({ length: 3 }, async () => {
      while (running) {
        await oneFlow(tally, client, session, issued, codes);
        await sleep(0);
      }
    });
    const timings: string[] = [];
    try {
      await sleep(1000);
      for (const service of ServiceNames) {
        for (const instance of instances.filter((i) => i.service === service)) {
          const { stopMs, startMs } = await restart(instance);
          timings.push(`${service}#${instance.index} ${stopMs}+${startMs} ms`);
          if (process.env.ROLLING_RESTART_PROGRESS) process.stdout.write(`# restarted ${timings.at(-1)}: ${tally.summary()}\n`);
          // Both instances ready again (as the balancer sees them) before the next one goes.
          while (instances.filter((i) => i.service === service && !i.ready).length > 0) await sleep(50);
        }
      }
      await sleep(1000);
    } finally {
      running = false;
      await Promise.all(workers);
    }
    process.stdout.write(`# rolling restart (${timings.join(', ')}): ${tally.summary()}\n`);

    for (const kind of kinds) assert.deepEqual(tally.errors.get(kind), [], `${kind}: no error seen by the clients`);
    assert.ok(tally.requests.get('token (refresh)')! > 20, 'a steady load ran through the restarts');
    assert.equal(new Set(codes).size, codes.length, 'no code handed out twice');

    // Every token issued has its oauth.token.issued event, once; no code was redeemed twice (no replay, one token per grant's code).
    const jtis = new Set(issued.map((i) => i.jti));
    const eventType = (i: Issued) => (i.via === 'code' ? 'oauth.token.issued' : 'oauth.token.refreshed');
    const deadline = Date.now() + 20_000;
    const missing = () => issued.filter((i) => !audit.ofType(eventType(i)).some((e: CloudEvent) => e.data.jti === i.jti)).map((i) => `${eventType(i)} ${i.jti}`);
    while (missing().length > 0 && Date.now() < deadline) await sleep(200);
    assert.deepEqual(missing(), [], 'every token issued has its audit event');
    const tokenEvents = [...audit.ofType('oauth.token.issued'), ...audit.ofType('oauth.token.refreshed')].filter((e) => jtis.has(e.data.jti as string));
    assert.equal(tokenEvents.length, jtis.size, 'one token.issued or token.refreshed per token');
    assert.equal(audit.ofType('oauth.code.replayed').length, 0, 'no code redeemed twice');
    const redeemedGrants = issued.filter((i) => i.via === 'code').map((i) => i.grant);
    assert.equal(new Set(redeemedGrants).size, redeemedGrants.length, 'each grant began by one redemption');
    const ids = tokenEvents.map((e) => e.id);
    assert.equal(new Set(ids).size, ids.length, 'no audit event twice');
    process.stdout.write(`# ${codes.length} codes redeemed once each; ${jtis.size} tokens issued, each with its audit event\n`);
  });
});
