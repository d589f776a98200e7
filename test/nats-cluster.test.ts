// A real three-node NATS cluster (JetStream, OAUTH_AUDIT at 3 replicas) under two instances of
// every service, with a steady load of code flows and refreshes through the HTTP edges. A node is
// SIGKILLed and started again: first the one leading OAUTH_AUDIT, then the one most services are
// connected to. Through both: no 5xx at any edge, every token the client received has its audit
// event in the stream exactly once (by jti), no code is redeemed twice, no refresh token family
// is left half-rotated, and flows succeed again within moments (the time is printed).
//
// The issue asks for a node down 20 s; to keep the file near a minute it is 8 s here
// (NATS_CLUSTER_NODE_DOWN_MS=20000 runs the figure).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/nats-core';
import type { CloudEvent } from '#shared/audit/cloud-event.ts';
import { AUDIT_STREAM } from '#shared/nats/subjects.ts';
import { freePort, startService, startSystem, type SeededClient, type SeededUser, type System } from './helpers/system.ts';
import { startNatsCluster, type ClusterNode, type NatsCluster } from './helpers/nats-server.ts';
import { authorizeUrl, pkcePair } from './helpers/oauth.ts';
import { basicAuth } from './helpers/token-requests.ts';
import { Browser } from './helpers/browser.ts';
import { readAuditStream } from './helpers/audit.ts';

const DOWN_MS = Number(process.env.NATS_CLUSTER_NODE_DOWN_MS ?? 8000);
const DEADLINE_MS = 10_000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let cluster: NatsCluster;
let system: System;
const extra: { stop(): Promise<void> }[] = [];
/** Base URLs of each HTTP edge's two instances. */
const edges = { authorize: [] as string[], consent: [] as string[], token: [] as string[] };
let client: SeededClient;
let user: SeededUser;
let browser: Browser;
let scope: string;

before(async () => {
  cluster = await startNatsCluster(3);
  system = await startSystem('natscluster', {
    env: { NATS_URL: cluster.urls, AUDIT_STREAM_REPLICAS: '3', NATS_REQUEST_TIMEOUT_MS: '2000' },
    natsConnect: { servers: cluster.nodes.map((n) => n.url), maxReconnectAttempts: -1, reconnectTimeWait: 250 },
  });
  const [a, c, t, v] = [await freePort(), await freePort(), await freePort(), await freePort()];
  const second = { AUTHORIZE_SERVICE_PORT: String(a), CONSENT_UI_PORT: String(c), TOKEN_SERVICE_PORT: String(t), VALIDATION_SERVICE_PORT: String(v) };
  for (const name of ['authorize-service', 'consent-ui', 'token-service', 'validation-service'] as const) {
    extra.push(await startService(name, { ...system.env, ...second }));
  }
  edges.authorize = [system.urls.authorizeService, `http://localhost:${a}`];
  edges.consent = [system.urls.consentUi, `http://localhost:${c}`];
  edges.token = [system.urls.tokenService, `http://localhost:${t}`];
  scope = await system.seed.scope('orders');
  user = await system.seed.user();
  client = await system.seed.client({ scopes: [scope], refreshTokens: true });
  browser = new Browser([system.urls.authorizeService, system.urls.consentUi]);
  const page = await browser.get(`${system.urls.consentUi}/ui/`);
  assert.equal((await browser.form(page, 'Sign in').fill('Username', user.username).fill('Password', user.password).submit('Sign in')).status, 303);
  // A remembered consent: from now on consent-ui answers the hand-off with the code at once.
  const first = await browser.navigate(authorizeUrl(system, {
    response_type: 'code', client_id: client.clientId, redirect_uri: client.redirectUri, scope, state: 'remember',
    code_challenge: pkcePair().challenge, code_challenge_method: 'S256',
  }));
  assert.equal((await browser.form(first, 'Allow').check('Remember this decision').submit('Allow')).status, 303);
});
after(async () => {
  await Promise.allSettled(extra.map((s) => s.stop()));
  await system?.stop();
  await cluster?.stop();
});

type Call = { edge: string; status: number; ms: number; startedAt: number };
/** One code flow and its refreshes, as the client saw them. */
type Flow = { startedAt: number; endedAt?: number; ok: boolean; gid?: string; jtis: string[]; refreshToken?: string; previousRefreshToken?: string };

/** The load: workers running code flows (each exchanged once, then refreshed twice), spread over both instances of each edge. */
class Load {
  readonly calls: Call[] = [];
  readonly flows: Flow[] = [];
  readonly errors: string[] = [];
  #running = true;
  #workers: Promise<void>[] = [];
  #n = 0;

  start(workers: number): void {
    this.#workers = Array.from({ length: workers }, async () => {
      while (this.#running && this.flows.length < 2000) {
        const i = this.#n++;
        try {
          await this.#flow(i);
        } catch (error) {
          this.errors.push(`flow ${i}: ${(error as Error).message}`);
          await sleep(50);
        }
      }
    });
  }

  async stop(): Promise<void> {
    this.#running = false;
    await Promise.all(this.#workers);
  }

  async #call(edge: string, url: string, init: RequestInit = {}): Promise<Response> {
    const startedAt = Date.now();
    const res = await fetch(url, { redirect: 'manual', ...init, signal: AbortSignal.timeout(DEADLINE_MS) });
    this.calls.push({ edge, status: res.status, ms: Date.now() - startedAt, startedAt });
    if (res.status >= 500) throw new Error(`${edge} answered ${res.status}: ${(await res.text()).slice(0, 200)}`);
    return res;
  }

  async #token(i: number, form: Record<string, string>): Promise<Record<string, unknown>> {
    const base = edges.token[i % 2]!;
    const res = await this.#call('token-service', `${base}/token`, {
      method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basicAuth(client) }, body: new URLSearchParams(form),
    });
    const body = (await res.json()) as Record<string, unknown>;
    if (res.status !== 200) throw new Error(`token-service answered ${res.status}: ${JSON.stringify(body)}`);
    return body;
  }

  async #flow(i: number): Promise<void> {
    const flow: Flow = { startedAt: Date.now(), ok: false, jtis: [] };
    this.flows.push(flow);
    const { verifier, challenge } = pkcePair();
    const params = { response_type: 'code', client_id: client.clientId, redirect_uri: client.redirectUri, scope, state: `s${i}`, code_challenge: challenge, code_challenge_method: 'S256' };
    const authorize = await this.#call('authorize-service', `${edges.authorize[i % 2]}/authorize?${new URLSearchParams(params)}`);
    const handoff = new URL(authorize.headers.get('location') ?? '');
    // Each authorize-service instance hands off to the consent-ui its configuration names.
    if (!edges.consent.some((base) => new URL(base).origin === handoff.origin)) throw new Error(`authorize did not hand off: ${handoff.origin}${handoff.pathname}`);
    // The hand-off at either consent-ui instance (same host, so the session cookie goes along).
    const consentUrl = `${edges.consent[(i >> 1) % 2]}${handoff.pathname}${handoff.search}`;
    const consent = await this.#call('consent-ui', consentUrl, { headers: { cookie: browser.jar.header(handoff.toString()) } });
    const code = new URL(consent.headers.get('location') ?? 'x:').searchParams.get('code');
    if (consent.status !== 302 || !code) throw new Error(`consent-ui answered ${consent.status} without a code`);
    const tokens = await this.#token(i, { grant_type: 'authorization_code', code, redirect_uri: client.redirectUri, code_verifier: verifier });
    flow.gid = claimsOf(tokens.access_token as string).gid;
    flow.jtis.push(claimsOf(tokens.access_token as string).jti);
    flow.refreshToken = tokens.refresh_token as string;
    for (let r = 1; r <= 2; r++) {
      const refreshed = await this.#token(i + r, { grant_type: 'refresh_token', refresh_token: flow.refreshToken });
      flow.jtis.push(claimsOf(refreshed.access_token as string).jti);
      flow.previousRefreshToken = flow.refreshToken;
      flow.refreshToken = refreshed.refresh_token as string;
    }
    flow.ok = true;
    flow.endedAt = Date.now();
  }
}

const claimsOf = (accessToken: string) => JSON.parse(Buffer.from(accessToken.split('.')[1]!, 'base64url').toString()) as { jti: string; gid: string };

async function streamInfo(nc: NatsConnection) {
  return (await jetstreamManager(nc)).streams.info(AUDIT_STREAM);
}

/** Waits until OAUTH_AUDIT has a leader and every replica is current (a restarted node caught up). */
async function waitForHealthyStream(nc: NatsConnection, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const info = await streamInfo(nc).catch(() => undefined);
    const replicas = info?.cluster?.replicas ?? [];
    if (info?.cluster?.leader && replicas.length === 2 && replicas.every((r) => r.current && !r.offline)) return;
    if (Date.now() > deadline) throw new Error(`OAUTH_AUDIT not healthy within ${timeoutMs} ms: ${JSON.stringify(info?.cluster)}`);
    await sleep(250);
  }
}


/** The node with the most service connections (by each node's /connz). */
async function nodeMostServicesUse(): Promise<{ node: ClusterNode; connections: number }> {
  const services = new Set(['authorize-service', 'consent-ui', 'token-service', 'validation-service']);
  let best: { node: ClusterNode; connections: number } | undefined;
  for (const node of cluster.nodes) {
    const connz = (await (await fetch(`http://127.0.0.1:${node.monitorPort}/connz?limit=1000`)).json()) as { connections?: { name?: string }[] };
    const connections = (connz.connections ?? []).filter((c) => services.has(c.name ?? '')).length;
    if (!best || connections > best.connections) best = { node, connections };
  }
  return best!;
}

/**
 * Runs the load, SIGKILLs `pick()`'s node, starts it again after DOWN_MS, and checks the rules.
 * Returns a line of figures.
 */
async function killAndRestart(label: string, pick: () => Promise<{ node: ClusterNode; why: string }>): Promise<string> {
  await waitForHealthyStream(system.nc);
  const fromSeq = (await streamInfo(system.nc)).state.last_seq + 1;
  const outbox = system.db.collection('audit_outbox');
  let outboxPeak = 0;
  const outboxWatch = setInterval(() => void outbox.countDocuments().then((n) => (outboxPeak = Math.max(outboxPeak, n)), () => undefined), 250);
  const load = new Load();
  load.start(4);
  let killedAt = 0;
  let why = '';
  let node: ClusterNode | undefined;
  try {
    await sleep(2000);
    ({ node, why } = await pick());
    killedAt = Date.now();
    await node.kill();
    await sleep(DOWN_MS);
    await node.start();
    await sleep(2000);
  } finally {
    await load.stop();
    clearInterval(outboxWatch);
    if (node && !node.running()) await node.start();
  }
  const { flows, calls } = load;
  assert.deepEqual(load.errors.slice(0, 5).map((e) => e.slice(0, 300)), [], `every call of every flow succeeded (no 5xx, no hang); ${load.errors.length} failed`);
  assert.deepEqual(calls.filter((c) => c.status >= 500), [], 'no 5xx at any edge');
  const completed = flows.filter((f) => f.ok);
  const afterKill = completed.filter((f) => f.startedAt >= killedAt);
  assert.ok(afterKill.length >= 10, `flows kept completing with ${node!.name} down (${afterKill.length})`);
  const recoveredAfter = Math.min(...afterKill.map((f) => f.endedAt!)) - killedAt;
  const slowest = Math.max(...calls.filter((c) => c.startedAt >= killedAt - 1000 && c.startedAt <= killedAt + DOWN_MS).map((c) => c.ms));

  // Audit: every token the client received has its event, once (events of failed publishes come from the outbox).
  const jtis = completed.flatMap((f) => f.jtis);
  const expected = new Set(jtis);
  let events: CloudEvent[] = [];
  const settleDeadline = Date.now() + 20_000;
  let outboxLeft = 0;
  for (;;) {
    events = (await readAuditStream(system.nc, fromSeq)).filter((e) => e.data.client_id === client.clientId);
    const seen = new Set(events.filter((e) => e.type === 'oauth.token.issued' || e.type === 'oauth.token.refreshed').map((e) => e.data.jti));
    outboxLeft = await system.db.collection('audit_outbox').countDocuments();
    if ((outboxLeft === 0 && [...expected].every((j) => seen.has(j))) || Date.now() > settleDeadline) break;
    await sleep(500);
  }
  const tokenEvents = events.filter((e) => e.type === 'oauth.token.issued' || e.type === 'oauth.token.refreshed');
  const byJti = new Map<string, number>();
  for (const e of tokenEvents) byJti.set(e.data.jti!, (byJti.get(e.data.jti!) ?? 0) + 1);
  // On failure, say which way each token is wrong (0: lost or still in the outbox; 2 or more: doubled).
  const eventsPerToken = jtis.filter((j) => byJti.get(j) !== 1).map((j) => `${j}: ${byJti.get(j) ?? 0}`);
  const server = `nats-server ${system.nc.info?.version ?? '?'}`;
  assert.deepEqual(eventsPerToken, [], `each token the client got has exactly one audit event (${outboxLeft} event(s) still in the outbox after the wait; ${server})`);
  const ids = events.map((e) => e.id);
  assert.equal(new Set(ids).size, ids.length, 'no event twice');
  // No code redeemed twice: one token.issued per grant, no replay.
  const issuedGrants = events.filter((e) => e.type === 'oauth.token.issued').map((e) => e.data.grant_id);
  assert.equal(new Set(issuedGrants).size, issuedGrants.length, 'one code redemption per grant');
  assert.equal(events.filter((e) => e.type === 'oauth.code.replayed' || e.type === 'oauth.refresh_token.reused').length, 0, 'no replay, no reuse');
  // No half-rotated family: each family's latest refresh token works, and the one before it is rotated out.
  const sample = completed.filter((_, i) => i % Math.max(1, Math.floor(completed.length / 15)) === 0);
  for (const flow of sample) {
    const latest = await postToken({ grant_type: 'refresh_token', refresh_token: flow.refreshToken! });
    assert.equal(latest.status, 200, `the family of ${flow.gid} goes on from its latest refresh token`);
    const earlier = await postToken({ grant_type: 'refresh_token', refresh_token: flow.previousRefreshToken! });
    assert.equal(earlier.status, 400, `the refresh token before it is spent (${flow.gid})`);
  }
  return `${label} (${server}): killed ${node!.name} (${why}) for ${DOWN_MS} ms; ${completed.length} flows (${jtis.length} tokens) completed, ` +
    `${afterKill.length} started after the kill; first flow started after the kill completed ${recoveredAfter} ms after it; ` +
    `slowest call around the outage ${slowest} ms; ${calls.length} calls, 0 5xx; ${tokenEvents.length} token events, each once; ` +
    `${sample.length} families checked; the audit outbox held up to ${outboxPeak} event(s)`;
}

async function postToken(form: Record<string, string>): Promise<{ status: number }> {
  const res = await fetch(`${edges.token[0]}/token`, {
    method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basicAuth(client) }, body: new URLSearchParams(form),
  });
  await res.arrayBuffer();
  return { status: res.status };
}

describe('a three-node NATS cluster under load', { timeout: 120_000 }, () => {
  it('OAUTH_AUDIT is created with 3 replicas, one per node', async () => {
    const info = await streamInfo(system.nc);
    assert.equal(info.config.num_replicas, 3);
    assert.ok(info.cluster?.leader);
    assert.equal(info.cluster?.replicas?.length, 2);
  });

  it('survives SIGKILL of the node leading OAUTH_AUDIT: no 5xx, every token audited once, no double redemption', async () => {
    const figures = await killAndRestart('stream leader', async () => {
      const leader = (await streamInfo(system.nc)).cluster!.leader!;
      return { node: cluster.node(leader), why: 'OAUTH_AUDIT leader' };
    });
    process.stdout.write(`# ${figures}\n`);
  });

  it('survives SIGKILL of the node the services are connected to', async () => {
    const figures = await killAndRestart('services\' node', async () => {
      const { node, connections } = await nodeMostServicesUse();
      return { node, why: `${connections} of the 8 service connections` };
    });
    process.stdout.write(`# ${figures}\n`);
  });
});
