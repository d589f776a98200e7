// Refresh grace (CONTRACT "More of the standards") with two token-service instances on one NATS
// and one database: within the client's grace a rotated refresh token presented again gets a normal
// answer exactly once (the database's unique claim decides, whichever instance answers), a further
// presentation or one after the window is reuse that revokes the family, and every grace use is
// audited. With grace 0 (the default) exactly one of concurrent refreshes succeeds.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { freePort, startService, startSystem, type SeededClient, type SeededUser, type System } from './helpers/system.ts';
import { codeViaNats, exchangeCode } from './helpers/oauth.ts';
import { collectAuditEvents, forClient, type AuditCollector } from './helpers/audit.ts';
import { grantIdOf, postForm } from './helpers/token-requests.ts';
import { within1s } from './helpers/within.ts';

let system: System;
let scope: string;
let user: SeededUser;
const extra: { stop(): Promise<void> }[] = [];
/** Base URLs of the two token-service instances. */
let edges: [string, string];

before(async () => {
  system = await startSystem('refreshgrace', { services: ['authorize-service', 'token-service'] });
  const port = await freePort();
  extra.push(await startService('token-service', { ...system.env, TOKEN_SERVICE_PORT: String(port) }));
  edges = [system.urls.tokenService, `http://127.0.0.1:${port}`];
  scope = await system.seed.scope('notes');
  user = await system.seed.user();
});
after(async () => {
  await Promise.allSettled(extra.map((s) => s.stop()));
  await system?.stop();
});

/** A client with refresh tokens and `graceSeconds` of refresh grace, its first refresh token, and its audit trail. */
async function signedIn(graceSeconds: number): Promise<{ client: SeededClient; refreshToken: string; audit: AuditCollector }> {
  const client = await system.seed.client({ scopes: [scope], refreshTokens: true, refreshGraceSeconds: graceSeconds });
  const { code, verifier } = await codeViaNats(system, client, user);
  const res = await exchangeCode(system, client, code, verifier);
  assert.equal(res.status, 200, JSON.stringify(res.body));
  return { client, refreshToken: res.body.refresh_token as string, audit: await collectAuditEvents(system.nc, forClient(client.clientId)) };
}

/** A refresh at instance `i` (0 or 1). */
const refreshAt = (i: number, client: SeededClient, refreshToken: string) =>
  postForm(`${edges[i % 2]}/token`, client, { grant_type: 'refresh_token', refresh_token: refreshToken });

const statuses = (results: { status: number; body: Record<string, unknown> }[]) => JSON.stringify(results.map((r) => [r.status, r.body.error]));

/** Whether instance `i` answers the refresh token as inactive (introspection by its client: it spends nothing). */
const inactiveAt = async (i: number, client: SeededClient, refreshToken: string) =>
  (await postForm(`${edges[i % 2]}/introspect`, client, { token: refreshToken })).body.active === false;

describe('POST /token refresh grace', () => {
  it('answers a rotated token once more within the grace (at the other instance), then treats it as reuse', async () => {
    const { client, refreshToken, audit } = await signedIn(30);
    try {
      const first = await refreshAt(0, client, refreshToken);
      assert.equal(first.status, 200, JSON.stringify(first.body));
      const graced = await refreshAt(1, client, refreshToken);
      assert.equal(graced.status, 200, JSON.stringify(graced.body));
      assert.equal(graced.body.scope, scope);
      assert.ok(graced.body.refresh_token && graced.body.refresh_token !== first.body.refresh_token);
      assert.equal(grantIdOf(graced.body.access_token as string), grantIdOf(first.body.access_token as string), 'the same grant');
      const [used] = await audit.waitFor('oauth.refresh_token.grace_used');
      assert.equal(used!.subject, client.clientId);
      assert.equal(used!.data.grant_id, grantIdOf(graced.body.access_token as string));
      assert.ok(!JSON.stringify(audit.events).includes(refreshToken));

      // The grace answer's token continues the family.
      const next = await refreshAt(0, client, graced.body.refresh_token as string);
      assert.equal(next.status, 200, JSON.stringify(next.body));
      // A further presentation of the first token is reuse: the family ends, the newest token with it.
      const again = await refreshAt(0, client, refreshToken);
      const reusedAt = Date.now();
      assert.equal(again.body.error, 'invalid_grant');
      // Instance 1 learns of the revocation by broadcast: wait for it there (within 1 s), or the refresh below would spend the token.
      await within1s(reusedAt, 'family revoked at the other instance', () => inactiveAt(1, client, next.body.refresh_token as string));
      await audit.waitFor('oauth.refresh_token.reused');
      const afterReuse = await refreshAt(1, client, next.body.refresh_token as string);
      assert.equal(afterReuse.body.error, 'invalid_grant');
      assert.equal(audit.ofType('oauth.refresh_token.grace_used').length, 1);
    } finally {
      await audit.stop();
    }
  });

  it('of 10 concurrent presentations of a just-rotated token at two instances exactly one gets the grace; the rest are reuse', async () => {
    const { client, refreshToken, audit } = await signedIn(30);
    try {
      assert.equal((await refreshAt(0, client, refreshToken)).status, 200);
      const results = await Promise.all(Array.from({ length: 10 }, (_, i) => refreshAt(i, client, refreshToken)));
      assert.equal(results.filter((r) => r.status === 200).length, 1, statuses(results));
      for (const r of results.filter((x) => x.status !== 200)) assert.equal(r.body.error, 'invalid_grant');
      await audit.waitForExactly({ 'oauth.refresh_token.reused': 1, 'oauth.refresh_token.grace_used': 1 });
    } finally {
      await audit.stop();
    }
  });

  it('of 10 concurrent refreshes with one unspent token at two instances, one spends it and exactly one more gets the grace', async () => {
    const { client, refreshToken, audit } = await signedIn(30);
    try {
      const results = await Promise.all(Array.from({ length: 10 }, (_, i) => refreshAt(i, client, refreshToken)));
      assert.equal(results.filter((r) => r.status === 200).length, 2, statuses(results));
      for (const r of results.filter((x) => x.status !== 200)) assert.equal(r.body.error, 'invalid_grant');
      await audit.waitFor('oauth.refresh_token.reused');
      await audit.waitForExactly({ 'oauth.token.refreshed': 1, 'oauth.refresh_token.grace_used': 1 });
    } finally {
      await audit.stop();
    }
  });

  it('after the window a rotated token is reuse and revokes the family', async () => {
    const { client, refreshToken, audit } = await signedIn(1);
    try {
      const first = await refreshAt(0, client, refreshToken);
      assert.equal(first.status, 200);
      await new Promise((resolve) => setTimeout(resolve, 1300));
      const late = await refreshAt(1, client, refreshToken);
      const reusedAt = Date.now();
      assert.equal(late.body.error, 'invalid_grant');
      // Revoked at instance 1; instance 0 learns of it by broadcast: wait for it there (within 1 s) before refreshing there.
      await within1s(reusedAt, 'family revoked at the other instance', () => inactiveAt(0, client, first.body.refresh_token as string));
      await audit.waitFor('oauth.refresh_token.reused');
      assert.equal((await refreshAt(0, client, first.body.refresh_token as string)).body.error, 'invalid_grant');
      assert.equal(audit.ofType('oauth.refresh_token.grace_used').length, 0);
    } finally {
      await audit.stop();
    }
  });

  it('with grace 0 exactly one of 10 concurrent refreshes at two instances succeeds', async () => {
    const { client, refreshToken, audit } = await signedIn(0);
    try {
      const results = await Promise.all(Array.from({ length: 10 }, (_, i) => refreshAt(i, client, refreshToken)));
      assert.equal(results.filter((r) => r.status === 200).length, 1, statuses(results));
      for (const r of results.filter((x) => x.status !== 200)) assert.equal(r.body.error, 'invalid_grant');
      await audit.waitFor('oauth.refresh_token.reused');
      assert.equal(audit.ofType('oauth.refresh_token.grace_used').length, 0);
    } finally {
      await audit.stop();
    }
  });
});
