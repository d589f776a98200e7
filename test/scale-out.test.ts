// Scale-out: two validation-service and two token-service instances on one NATS and one database,
// as `npm start -- --instances validation-service=2,token-service=2` or docker-compose --scale runs
// them. Both validation instances share the oauth.token.validate load (queue group); a revocation
// made at either token-service edge reaches both validation instances within 1 s; and the two
// token-service edges racing over one code still give exactly one success and one replay.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Svcm } from '@nats-io/services';
import { Subjects } from '#shared/nats/subjects.ts';
import { freePort, startService, startSystem, type SeededClient, type SeededUser, type System } from './helpers/system.ts';
import { codeViaNats } from './helpers/oauth.ts';
import { collectAuditEvents, forClient } from './helpers/audit.ts';
import { grantIdOf } from './helpers/token-requests.ts';

let system: System;
let client: SeededClient;
let resourceServer: SeededClient;
let user: SeededUser;
const extra: { stop(): Promise<void> }[] = [];
/** Base URLs of the two token-service edges and the two validation-service edges. */
let tokenEdges: [string, string];
let validationEdges: [string, string];

before(async () => {
  system = await startSystem('scaleout', { services: ['authorize-service', 'token-service', 'validation-service'] });
  const [tokenPort, validationPort] = [await freePort(), await freePort()];
  extra.push(await startService('token-service', { ...system.env, TOKEN_SERVICE_PORT: String(tokenPort) }));
  extra.push(await startService('validation-service', { ...system.env, VALIDATION_SERVICE_PORT: String(validationPort) }));
  tokenEdges = [system.urls.tokenService, `http://127.0.0.1:${tokenPort}`];
  validationEdges = [system.urls.validationService, `http://127.0.0.1:${validationPort}`];
  const scope = await system.seed.scope('orders');
  user = await system.seed.user();
  client = await system.seed.client({ scopes: [scope], refreshTokens: true });
  resourceServer = await system.seed.client({ scopes: [scope], refreshTokens: false });
});
after(async () => {
  await Promise.allSettled(extra.map((s) => s.stop()));
  await system?.stop();
});

const basic = (c: SeededClient) => `Basic ${Buffer.from(`${encodeURIComponent(c.clientId)}:${encodeURIComponent(c.clientSecret!)}`).toString('base64')}`;

async function post(url: string, as: SeededClient, form: Record<string, string>): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic(as) },
    body: new URLSearchParams(form),
    signal: AbortSignal.timeout(10_000),
  });
  const text = await res.text();
  return { status: res.status, body: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
}

/** A code exchanged at `edge`: the access and refresh token. */
async function tokensAt(edge: string): Promise<{ accessToken: string; refreshToken: string }> {
  const { code, verifier } = await codeViaNats(system, client, user);
  const res = await post(`${edge}/token`, client, { grant_type: 'authorization_code', code, redirect_uri: client.redirectUri, code_verifier: verifier });
  assert.equal(res.status, 200, JSON.stringify(res.body));
  return { accessToken: res.body.access_token as string, refreshToken: res.body.refresh_token as string };
}

/** RFC 7662 introspection at one validation-service instance's own edge: what that instance believes. */
const introspectAt = async (edge: string, token: string) => (await post(`${edge}/introspect`, resourceServer, { token })).body;

/** Requests served so far by each validation-service instance ($SRV.STATS), by instance id. */
async function requestCounts(): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  for await (const stats of await new Svcm(system.nc).client({ maxWait: 500, strategy: 'timer' } as never).stats('validation-service')) {
    counts.set(stats.id, stats.endpoints?.reduce((sum, e) => sum + e.num_requests, 0) ?? 0);
  }
  return counts;
}

/** Milliseconds from `since` until the instance at `edge` answers inactive for `token` (gives up after 3 s). */
async function msUntilInactiveAt(edge: string, token: string, since: number): Promise<number> {
  while (Date.now() - since < 3000) {
    if ((await introspectAt(edge, token)).active === false) return Date.now() - since;
    await new Promise((r) => setTimeout(r, 20));
  }
  return Infinity;
}

describe('oauth.token.validate with two validation-service instances', () => {
  it('is answered by both instances under load, every answer right', async () => {
    const { accessToken } = await tokensAt(tokenEdges[0]);
    const before = await requestCounts();
    assert.equal(before.size, 2, 'two instances declared on NATS');
    const replies: { active: boolean; allowed: boolean; client_id?: string }[] = [];
    // 400 requests, 50 in flight at a time.
    for (let batch = 0; batch < 8; batch++) {
      replies.push(...await Promise.all(Array.from({ length: 50 }, async () =>
        (await system.nc.request(Subjects.tokenValidate, JSON.stringify({ token: accessToken, scopes: client.scopes }), { timeout: 5000 })).json<typeof replies[0]>())));
    }
    assert.ok(replies.every((r) => r.active && r.allowed && r.client_id === client.clientId), 'every reply active and allowed');
    const after = await requestCounts();
    const served = [...after].map(([id, count]) => count - (before.get(id) ?? 0));
    assert.equal(served.reduce((a, b) => a + b, 0), replies.length, 'every request counted once');
    // The queue group spreads requests at random: each instance takes a real share of 400.
    for (const n of served) assert.ok(n >= 80, `each instance served a share (${served.join(' / ')})`);
    process.stdout.write(`# validate under load: ${replies.length} requests served ${served.join(' / ')} by the two instances\n`);
  });
});

describe('revocation with two token-service edges', () => {
  for (const [index, label] of [[0, 'first'], [1, 'second']] as const) {
    it(`a revocation made at the ${label} token-service edge is seen by both validation-service instances within 1 s`, async () => {
      // Issued at the other edge: any instance revokes what any instance issued.
      const other = tokenEdges[index === 0 ? 1 : 0];
      const access = await tokensAt(other);
      const grant = await tokensAt(other);
      for (const edge of validationEdges) {
        assert.equal((await introspectAt(edge, access.accessToken)).active, true);
        assert.equal((await introspectAt(edge, grant.accessToken)).active, true);
      }
      // An access token by its jti, and a whole grant by its refresh token.
      assert.equal((await post(`${tokenEdges[index]}/revoke`, client, { token: access.accessToken })).status, 200);
      const accessRevokedAt = Date.now();
      assert.equal((await post(`${tokenEdges[index]}/revoke`, client, { token: grant.refreshToken })).status, 200);
      const grantRevokedAt = Date.now();
      const delays: number[] = [];
      for (const edge of validationEdges) {
        delays.push(await msUntilInactiveAt(edge, access.accessToken, accessRevokedAt), await msUntilInactiveAt(edge, grant.accessToken, grantRevokedAt));
      }
      for (const ms of delays) assert.ok(ms <= 1000, `inactive at every validation instance within 1 s (${delays.join(', ')} ms)`);
      process.stdout.write(`# revoked at the ${label} token edge: inactive at the validation instances after ${delays.join(' / ')} ms\n`);
      // Over NATS too, whichever instance answers.
      const replies = await Promise.all(Array.from({ length: 20 }, async () =>
        (await system.nc.request(Subjects.tokenValidate, JSON.stringify({ token: grant.accessToken }), { timeout: 5000 })).json<{ active: boolean }>()));
      assert.ok(replies.every((r) => r.active === false));
      // The refresh token is dead at both token edges.
      for (const edge of tokenEdges) assert.equal((await post(`${edge}/token`, client, { grant_type: 'refresh_token', refresh_token: grant.refreshToken })).body.error, 'invalid_grant');
    });
  }
});

describe('POST /token at two token-service edges', () => {
  it('of concurrent redemptions of one code, half at each edge, exactly one succeeds and one replay is reported', async () => {
    const audit = await collectAuditEvents(system.nc, forClient(client.clientId));
    try {
      const grants: string[] = [];
      for (let round = 0; round < 4; round++) {
        const { code, verifier } = await codeViaNats(system, client, user);
        const results = await Promise.all(Array.from({ length: 10 }, (_, i) =>
          post(`${tokenEdges[i % 2]}/token`, client, { grant_type: 'authorization_code', code, redirect_uri: client.redirectUri, code_verifier: verifier })));
        const ok = results.filter((r) => r.status === 200);
        assert.equal(ok.length, 1, JSON.stringify(results.map((r) => [r.status, r.body.error])));
        for (const r of results.filter((x) => x.status !== 200)) {
          assert.equal(r.status, 400);
          assert.equal(r.body.error, 'invalid_grant');
        }
        grants.push(grantIdOf(ok[0]!.body.access_token as string));
      }
      const replayed = await audit.waitFor('oauth.code.replayed', grants.length);
      await new Promise((r) => setTimeout(r, 300));
      for (const grant of grants) {
        assert.equal(audit.ofType('oauth.code.replayed').filter((e) => e.data.grant_id === grant).length, 1, 'one replay reported per code');
        assert.equal(audit.ofType('oauth.token.issued').filter((e) => e.data.grant_id === grant).length, 1, 'tokens issued once per code');
      }
      assert.equal(replayed.length, grants.length);
    } finally {
      await audit.stop();
    }
  });

  it('of concurrent refreshes with one refresh token, one at each edge, exactly one succeeds', async () => {
    for (let round = 0; round < 4; round++) {
      const { refreshToken } = await tokensAt(round % 2 === 0 ? tokenEdges[0] : tokenEdges[1]);
      const results = await Promise.all(tokenEdges.map((edge) => post(`${edge}/token`, client, { grant_type: 'refresh_token', refresh_token: refreshToken })));
      assert.equal(results.filter((r) => r.status === 200).length, 1, JSON.stringify(results.map((r) => [r.status, r.body.error])));
      assert.equal(results.find((r) => r.status !== 200)?.body.error, 'invalid_grant');
    }
  });
});
