// OpenTelemetry traces across real service processes: with OTEL_EXPORTER_OTLP_ENDPOINT set, one
// authorization code flow, sent by a client under one traceparent, is one trace whose spans go from
// the HTTP edges through the NATS hops (consent-ui -> authorize-service) to the database, exported
// over OTLP/HTTP JSON to a receiver in this test.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { gunzipSync } from 'node:zlib';
import { randomBytes } from 'node:crypto';
import { MongoClient } from 'mongodb';
import { connect } from '@nats-io/transport-node';
import { headers, type NatsConnection } from '@nats-io/nats-core';
import { Subjects } from '#shared/nats/subjects.ts';
import { publicUrls, parseConfig, CommonConfigSchema, type PublicUrls } from '#shared/config.ts';
import { startPrivateNats, type PrivateNats } from './helpers/nats-server.ts';
import { spawnNode, waitForOk, type Spawned } from './helpers/process.ts';
import { seeder, testEnv, type SeededClient, type SeededUser } from './helpers/system.ts';
import { pkcePair } from './helpers/oauth.ts';
import { Browser } from './helpers/browser.ts';

type ExportedSpan = { service: string; traceId: string; spanId: string; parentSpanId: string; name: string; kind: number; attributes: Record<string, unknown> };
type OtlpValue = { stringValue?: string; intValue?: string | number; boolValue?: boolean };
type OtlpAttribute = { key: string; value: OtlpValue };
type OtlpSpan = Omit<ExportedSpan, 'service' | 'attributes'> & { attributes?: OtlpAttribute[] };
type OtlpExport = { resourceSpans: { resource: { attributes: OtlpAttribute[] }; scopeSpans: { spans: OtlpSpan[] }[] }[] };

const attributes = (list: OtlpAttribute[] = []) =>
  Object.fromEntries(list.map(({ key, value }) => [key, value.stringValue ?? (value.intValue !== undefined ? Number(value.intValue) : value.boolValue)]));

/** An OTLP/HTTP JSON receiver: every span posted to /v1/traces, with its service.name. */
async function startReceiver(): Promise<{ server: Server; url: string; spans: ExportedSpan[] }> {
  const spans: ExportedSpan[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks);
      const body = JSON.parse((req.headers['content-encoding'] === 'gzip' ? gunzipSync(raw) : raw).toString('utf8')) as OtlpExport;
      assert.equal(req.url, '/v1/traces');
      assert.match(req.headers['content-type'] ?? '', /^application\/json/);
      for (const { resource, scopeSpans } of body.resourceSpans) {
        const service = String(attributes(resource.attributes)['service.name']);
        for (const { spans: list } of scopeSpans) for (const s of list) spans.push({ ...s, service, attributes: attributes(s.attributes) });
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, url: `http://127.0.0.1:${(server.address() as { port: number }).port}`, spans };
}

const SERVICES = { 'authorize-service': 'AUTHORIZE_SERVICE_PORT', 'consent-ui': 'CONSENT_UI_PORT', 'token-service': 'TOKEN_SERVICE_PORT' } as const;

describe('OpenTelemetry traces (OTEL_EXPORTER_OTLP_ENDPOINT set)', () => {
  let receiver: Awaited<ReturnType<typeof startReceiver>>;
  let nats: PrivateNats;
  let nc: NatsConnection;
  let mongo: MongoClient;
  let urls: PublicUrls;
  let client: SeededClient;
  let user: SeededUser;
  const processes = new Map<string, Spawned>();

  before(async () => {
    receiver = await startReceiver();
    nats = await startPrivateNats();
    const env = await testEnv('tracing', {
      NATS_URL: nats.url, LOG_LEVEL: 'info', OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url, OTEL_BSP_SCHEDULE_DELAY: '100',
    });
    urls = publicUrls(parseConfig(CommonConfigSchema, env));
    // One at a time: the services create shared indexes and the audit stream idempotently, not in a race.
    for (const [service, port] of Object.entries(SERVICES)) {
      processes.set(service, spawnNode([`services/${service}/main.ts`], env));
      await waitForOk(`http://127.0.0.1:${env[port]}/readyz`, 30_000).catch((error: Error) => {
        throw new Error(`${error.message}\n${processes.get(service)!.output()}`);
      });
    }
    mongo = await MongoClient.connect(env.MONGODB_URI!);
    nc = await connect({ servers: nats.url });
    const seed = seeder(mongo.db(), nc);
    client = await seed.client({ scopes: [await seed.scope('traced')] });
    user = await seed.user();
  });
  after(async () => {
    for (const p of processes.values()) p.child.kill('SIGTERM');
    await Promise.all([...processes.values()].map((p) => p.exited));
    await nc?.close();
    await mongo?.close();
    await nats?.stop();
    receiver?.server.close();
  });

  it('makes one code flow one trace: authorize-service, consent-ui over NATS, token-service and the database, parent to child', async () => {
    const traceId = randomBytes(16).toString('hex');
    const rootSpanId = randomBytes(8).toString('hex');
    const browser = new Browser([urls.authorizeService, urls.consentUi]);
    // The client's own span, as an instrumented browser or client library sends it on each request.
    browser.headers.traceparent = `00-${traceId}-${rootSpanId}-01`;
    const { verifier, challenge } = pkcePair();
    const state = randomBytes(8).toString('hex');
    const query = new URLSearchParams({
      response_type: 'code', client_id: client.clientId, redirect_uri: client.redirectUri, scope: client.scopes.join(' '), state,
      code_challenge: challenge, code_challenge_method: 'S256',
    });
    const login = await browser.navigate(`${urls.authorizeService}/authorize?${query}`);
    const consent = await browser.follow(await browser.form(login, 'Sign in').fill('Username', user.username).fill('Password', user.password).submit('Sign in'));
    const approved = await browser.form(consent, 'Allow').submit('Allow');
    const code = new URL(approved.location!).searchParams.get('code')!;
    assert.ok(code, 'the flow ended with a code');
    const token = await fetch(`${urls.tokenService}/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', traceparent: `00-${traceId}-${rootSpanId}-01`,
        authorization: `Basic ${Buffer.from(`${client.clientId}:${client.clientSecret!}`).toString('base64')}` },
      body: new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: client.redirectUri, code_verifier: verifier }),
    });
    assert.equal(token.status, 200);

    const spans = await spansOf(traceId, ['authorize-service', 'consent-ui', 'token-service']);
    const byId = new Map(spans.map((s) => [s.spanId, s]));
    const find = (service: string, name: string) => spans.find((s) => s.service === service && s.name === name);

    // HTTP edges: server spans (kind 2), children of the client's span.
    const authorize = find('authorize-service', 'GET /authorize');
    const tokenRequest = find('token-service', 'POST /token');
    assert.ok(authorize && tokenRequest, `edge spans: ${spans.map((s) => `${s.service} ${s.name}`).join(', ')}`);
    for (const edge of [authorize, tokenRequest]) {
      assert.equal(edge.parentSpanId, rootSpanId);
      assert.equal(edge.kind, 2);
    }
    assert.equal(tokenRequest.attributes['http.response.status_code'], 200);

    // consent-ui -> authorize-service over NATS: HTTP span -> client span (send) -> server span (process).
    const process = find('authorize-service', 'process oauth.authorization.decide');
    assert.ok(process, 'authorize-service handled the decision in the trace');
    const send = byId.get(process.parentSpanId);
    assert.ok(send, 'its parent came over NATS as a traceparent');
    assert.equal(send.service, 'consent-ui');
    assert.equal(send.name, 'send oauth.authorization.decide');
    const consentPost = byId.get(send.parentSpanId);
    assert.equal(consentPost?.service, 'consent-ui');
    assert.equal(consentPost.parentSpanId, rootSpanId);
    assert.match(consentPost.name, /^POST \/ui\//);

    // The database: command spans under the work that sent them.
    const decideDb = spans.filter((s) => s.parentSpanId === process.spanId && s.attributes['db.system.name'] === 'mongodb');
    assert.ok(decideDb.length > 0, 'the decision wrote to the database within its span');
    assert.ok(spans.some((s) => s.parentSpanId === tokenRequest.spanId && s.attributes['db.system.name'] === 'mongodb'), 'token-service read or wrote within the request');

    // Nothing secret in any span: no code, state, verifier, query string or client secret.
    const exported = JSON.stringify(spans);
    for (const secret of [code, state, verifier, client.clientSecret!, challenge]) assert.ok(!exported.includes(secret));
  });

  it('serves a request with a malformed traceparent as any other (it starts a new trace), over HTTP and NATS', async () => {
    const malformed = ['garbage', `ff-${'a'.repeat(32)}-${'b'.repeat(16)}-01`, `00-${'0'.repeat(32)}-${'b'.repeat(16)}-01`, 'x'.repeat(8000), '\u00ff'];
    let served = 0;
    for (const traceparent of malformed) {
      const res = await fetch(`${urls.authorizeService}/.well-known/oauth-authorization-server`, { headers: { traceparent } }).catch(() => undefined);
      if (res) assert.equal(res.status, 200, traceparent.slice(0, 40));
      if (res) served += 1;
      const h = headers();
      h.set('traceparent', traceparent);
      const reply = await nc.request(Subjects.authorizationDescribe, JSON.stringify({ handle: 'A'.repeat(43) }), { timeout: 5000, headers: h });
      assert.ok(reply.headers?.get('Nats-Service-Error-Code') || reply.data.length > 0, 'answered');
    }
    // The exporters batch every 100 ms: wait for a span of every request served, at most 10 s.
    const metadataSpans = () => receiver.spans.filter((s) => s.name === 'GET /.well-known/oauth-authorization-server');
    for (const deadline = Date.now() + 10_000; metadataSpans().length < served && Date.now() < deadline;) await new Promise((r) => setTimeout(r, 50));
    const metadata = metadataSpans();
    assert.ok(served >= 3 && metadata.length >= served, `${metadata.length} spans for ${served} requests served`);
    for (const span of metadata) assert.equal(span.parentSpanId ?? '', '', 'a root span');
  });

  it('keeps the access log at info in each process: one line per request with reqId, no query string', () => {
    const lines = processes.get('authorize-service')!.output().split('\n').filter((l) => l.includes('"request completed"'));
    const authorize = lines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.route === '/authorize');
    assert.equal(authorize.length, 1);
    assert.equal(authorize[0]!.status, 302);
    assert.equal(typeof authorize[0]!.reqId, 'string');
    assert.ok(!lines.join('\n').includes('code_challenge'));
  });

  /** The spans of `traceId` once every one of `services` has exported some (the exporters batch every 100 ms). */
  async function spansOf(traceId: string, services: string[]): Promise<ExportedSpan[]> {
    const deadline = Date.now() + 10_000;
    for (;;) {
      const spans = receiver.spans.filter((s) => s.traceId === traceId);
      const seen = new Set(spans.map((s) => s.service));
      if (services.every((s) => seen.has(s)) && spans.some((s) => s.name === 'POST /token')) {
        await new Promise((r) => setTimeout(r, 300)); // the last batches of the same flow
        return receiver.spans.filter((s) => s.traceId === traceId);
      }
      if (Date.now() > deadline) assert.fail(`spans of the trace seen from ${[...seen].join(', ') || 'no service'} within 10 s`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
});
