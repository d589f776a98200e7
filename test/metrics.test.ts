// Prometheus metrics after real traffic: NATS endpoint requests by outcome with latency, the audit
// outbox backlog, the revocation set's size, and what requests waited for (grouped unique inserts,
// audit acks), each read from a service's own /metrics.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Subjects } from '#shared/nats/subjects.ts';
import { startSystem, type SeededClient, type SeededUser, type System } from './helpers/system.ts';
import { codeViaNats, exchangeCode } from './helpers/oauth.ts';
import { revokeRequest } from './helpers/token-requests.ts';

/** The value of one sample of a Prometheus text exposition, found by name and labels (all of them must match). */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    const match = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const have = Object.fromEntries([...(match[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]));
    if (Object.entries(labels).every(([k, v]) => have[k] === v)) return Number(match[3]);
  }
  return undefined;
}

describe('/metrics after traffic', () => {
  let system: System;
  let client: SeededClient;
  let user: SeededUser;
  const scrape = async (base: string) => (await fetch(`${base}/metrics`)).text();

  before(async () => {
    system = await startSystem('metrics', { services: ['authorize-service', 'token-service', 'validation-service'] });
    client = await system.seed.client({ scopes: [await system.seed.scope('metrics')] });
    user = await system.seed.user();
  });
  after(async () => {
    await system?.stop();
  });

  it('counts NATS endpoint requests by endpoint, subject and outcome, with a latency histogram', async () => {
    const { code, verifier } = await codeViaNats(system, client, user);
    const token = await exchangeCode(system, client, code, verifier);
    assert.equal(token.status, 200);
    const accessToken = String(token.body.access_token);
    for (let i = 0; i < 3; i++) {
      const reply = await system.nc.request(Subjects.tokenValidate, JSON.stringify({ token: accessToken }), { timeout: 5000 });
      assert.equal((reply.json() as { active: boolean }).active, true);
    }
    await system.nc.request(Subjects.tokenValidate, JSON.stringify({ nottoken: 1 }), { timeout: 5000 });

    const validation = await scrape(system.validationServiceUrl);
    const ok = { endpoint: 'validate', subject: Subjects.tokenValidate, outcome: 'ok' };
    assert.equal(sample(validation, 'nats_endpoint_duration_seconds_count', ok), 3);
    assert.ok(sample(validation, 'nats_endpoint_duration_seconds_sum', ok)! > 0, 'latency is recorded');
    assert.equal(sample(validation, 'nats_endpoint_duration_seconds_bucket', { ...ok, le: '+Inf' }), 3);
    assert.equal(sample(validation, 'nats_endpoint_duration_seconds_count', { endpoint: 'validate', outcome: 'invalid_request' }), 1, 'errors by outcome');

    const authorize = await scrape(system.urls.authorizeService);
    assert.equal(sample(authorize, 'nats_endpoint_duration_seconds_count', { endpoint: 'decide', subject: Subjects.authorizationDecide, outcome: 'ok' }), 1);
  });

  it('reports the audit outbox backlog of a service that emits audit events (empty: 0 events, 0 s behind)', async () => {
    const metrics = await scrape(system.urls.tokenService);
    assert.equal(sample(metrics, 'audit_outbox_events', { service: 'token-service' }), 0);
    assert.equal(sample(metrics, 'audit_outbox_oldest_age_seconds', { service: 'token-service' }), 0);
    assert.equal(sample(await scrape(system.validationServiceUrl), 'audit_outbox_events'), undefined, 'validation-service has no outbox');
  });

  it('times the grouped unique inserts by collection, with the documents they carried, and the audit acks waited for', async () => {
    const read = async () => {
      const text = await scrape(system.urls.tokenService);
      const families = { collection: 'refresh_token_families', service: 'token-service' };
      return {
        writes: sample(text, 'group_commit_write_seconds_count', families) ?? 0,
        seconds: sample(text, 'group_commit_write_seconds_sum', families) ?? 0,
        documents: sample(text, 'group_commit_documents_total', families) ?? 0,
        acks: sample(text, 'audit_publish_ack_seconds_count', { service: 'token-service' }) ?? 0,
      };
    };
    const before = await read();
    const { code, verifier } = await codeViaNats(system, client, user);
    assert.equal((await exchangeCode(system, client, code, verifier)).status, 200);
    const after = await read();
    // One redemption: one family stored (its insert went out alone), one tokens-issued event acked.
    assert.equal(after.writes - before.writes, 1, 'one insert command');
    assert.equal(after.documents - before.documents, 1, 'of one document');
    assert.ok(after.seconds > before.seconds, 'its time in flight is added');
    assert.ok(after.acks > before.acks, 'the audit event of the redemption was acked and timed');
  });

  it('reports the size of the revocation set, growing with a revocation', async () => {
    const before = sample(await scrape(system.validationServiceUrl), 'revocation_set_entries');
    assert.equal(typeof before, 'number');
    const { code, verifier } = await codeViaNats(system, client, user);
    const token = await exchangeCode(system, client, code, verifier);
    assert.equal((await revokeRequest(system, client, String(token.body.access_token))).status, 200);
    const deadline = Date.now() + 3000;
    let after = before;
    while (after === before && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
      after = sample(await scrape(system.validationServiceUrl), 'revocation_set_entries');
    }
    assert.equal(after, before! + 1, 'validation-service holds one more revocation');
    assert.equal(sample(await scrape(system.urls.tokenService), 'revocation_set_entries'), after, 'token-service too');
  });
});
