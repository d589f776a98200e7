// Refresh token rotation (RFC 6749 §6, RFC 9700 §4.14.2) against the real services: rotation on
// every use, reuse detection revoking the family, the concurrent-refresh race, scope narrowing.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startSystem, type SeededClient, type SeededUser, type System } from './helpers/system.ts';
import { codeViaNats, exchangeCode } from './helpers/oauth.ts';
import { collectAuditEvents, forClient } from './helpers/audit.ts';
import { grantIdOf, refreshRequest, verifyAccessToken, watchRevocations } from './helpers/token-requests.ts';

let system: System;
let read: string;
let write: string;
let user: SeededUser;

before(async () => {
  system = await startSystem('refreshrot', { services: ['authorize-service', 'token-service'] });
  read = await system.seed.scope('read');
  write = await system.seed.scope('write');
  user = await system.seed.user();
});
after(() => system.stop());

/** A client with refresh tokens and a first token pair for `scopes`. */
async function signedIn(scopes = [read, write]): Promise<{ client: SeededClient; refreshToken: string; accessToken: string }> {
  const client = await system.seed.client({ scopes: [read, write] });
  const { code, verifier } = await codeViaNats(system, client, user, { scopes });
  const res = await exchangeCode(system, client, code, verifier);
  assert.equal(res.status, 200, JSON.stringify(res.body));
  return { client, refreshToken: res.body.refresh_token as string, accessToken: res.body.access_token as string };
}

describe('POST /token grant_type=refresh_token', () => {
  it('rotates the refresh token on every use; the new one works and carries the whole grant', async () => {
    const { client, refreshToken } = await signedIn();
    const audit = await collectAuditEvents(system.nc, forClient(client.clientId));
    try {
      const second = await refreshRequest(system, client, refreshToken);
      assert.equal(second.status, 200, JSON.stringify(second.body));
      assert.equal(second.headers.get('cache-control'), 'no-store');
      assert.equal(second.headers.get('pragma'), 'no-cache');
      assert.equal(second.body.token_type, 'Bearer');
      assert.equal(second.body.scope, `${read} ${write}`);
      assert.notEqual(second.body.refresh_token, refreshToken);
      const { payload } = await verifyAccessToken(system, second.body.access_token as string);
      assert.equal(payload.scope, `${read} ${write}`);
      assert.equal(payload.sub, user.sub);

      const third = await refreshRequest(system, client, second.body.refresh_token as string);
      assert.equal(third.status, 200);
      const refreshed = await audit.waitFor('oauth.token.refreshed', 2);
      assert.equal(refreshed[0]!.data.grant_id, payload.gid);
      assert.equal(refreshed[0]!.data.jti, payload.jti);
    } finally {
      await audit.stop();
    }
  });

  it('revokes the whole family, newest token and access tokens included, when a rotated-out token is reused', async () => {
    const { client, refreshToken } = await signedIn();
    const audit = await collectAuditEvents(system.nc, forClient(client.clientId));
    const broadcasts = watchRevocations(system);
    try {
      const second = await refreshRequest(system, client, refreshToken);
      assert.equal(second.status, 200);
      const grantId = grantIdOf(second.body.access_token as string);

      const reuse = await refreshRequest(system, client, refreshToken);
      assert.equal(reuse.status, 400);
      assert.equal(reuse.body.error, 'invalid_grant');
      const newest = await refreshRequest(system, client, second.body.refresh_token as string);
      assert.equal(newest.body.error, 'invalid_grant', 'the newest token of the family is dead too');

      const family = await system.db.collection('refresh_token_families').findOne({ _id: grantId as never });
      assert.ok(family?.revokedAt instanceof Date);
      const record = await system.db.collection('revocations').findOne({ _id: `grant:${grantId}` as never });
      assert.equal(record?.kind, 'grant');
      await broadcasts.waitFor((r) => r.kind === 'grant' && r.key === grantId);
      const [reused] = await audit.waitFor('oauth.refresh_token.reused');
      assert.equal(reused!.subject, client.clientId);
      assert.equal(reused!.data.grant_id, grantId);
      assert.equal(reused!.data.sub, user.sub);
      assert.ok(!JSON.stringify(reused).includes(refreshToken));
    } finally {
      broadcasts.sub.unsubscribe();
      await audit.stop();
    }
  });

  it('lets exactly one of 10 concurrent refreshes with one token succeed; the rest get invalid_grant', async () => {
    const { client, refreshToken } = await signedIn();
    const audit = await collectAuditEvents(system.nc, forClient(client.clientId));
    try {
      const results = await Promise.all(Array.from({ length: 10 }, () => refreshRequest(system, client, refreshToken)));
      assert.equal(results.filter((r) => r.status === 200).length, 1, JSON.stringify(results.map((r) => [r.status, r.body.error])));
      for (const r of results.filter((x) => x.status !== 200)) assert.equal(r.body.error, 'invalid_grant');
      // The losers presented a token that had been rotated: reuse, reported once.
      await audit.waitForExactly({ 'oauth.refresh_token.reused': 1, 'oauth.token.refreshed': 1 });
    } finally {
      await audit.stop();
    }
  });

  it('narrows the access token scope on request, never beyond the grant; the refresh token keeps the grant', async () => {
    const { client, refreshToken } = await signedIn([read]);
    // Wider than the grant (a scope the client may have, but the owner did not grant): invalid_scope, token still usable.
    const wider = await refreshRequest(system, client, refreshToken, `${read} ${write}`);
    assert.equal(wider.status, 400);
    assert.equal(wider.body.error, 'invalid_scope');
    const unknown = await refreshRequest(system, client, refreshToken, 'admin');
    assert.equal(unknown.body.error, 'invalid_scope');

    const narrowed = await refreshRequest(system, client, refreshToken, read);
    assert.equal(narrowed.status, 200, 'the refresh token survived the refused scope');
    assert.equal(narrowed.body.scope, read);

    const { client: both, refreshToken: fullToken } = await signedIn([read, write]);
    const narrow = await refreshRequest(system, both, fullToken, write);
    assert.equal(narrow.status, 200);
    assert.equal(narrow.body.scope, write);
    assert.equal((await verifyAccessToken(system, narrow.body.access_token as string)).payload.scope, write);
    const full = await refreshRequest(system, both, narrow.body.refresh_token as string);
    assert.equal(full.status, 200);
    assert.equal(full.body.scope, `${read} ${write}`, 'the rotated-in refresh token keeps the original grant');
  });

  it('refuses another client\u2019s refresh token and leaves it working for its owner', async () => {
    const { client, refreshToken } = await signedIn();
    const thief = await system.seed.client({ scopes: [read, write] });
    const stolen = await refreshRequest(system, thief, refreshToken);
    assert.equal(stolen.status, 400);
    assert.equal(stolen.body.error, 'invalid_grant');
    assert.equal((await refreshRequest(system, client, refreshToken)).status, 200);
  });

  it('refuses malformed, unknown and missing refresh tokens', async () => {
    const { client } = await signedIn();
    assert.equal((await refreshRequest(system, client, 'garbage')).body.error, 'invalid_grant');
    assert.equal((await refreshRequest(system, client, `${'a'.repeat(22)}.${'b'.repeat(43)}`)).body.error, 'invalid_grant');
    const missing = await refreshRequest(system, client, '');
    assert.equal(missing.body.error, 'invalid_request');
  });

  it('gives each sign-in its own family: reuse in one leaves the other alone', async () => {
    const client = await system.seed.client({ scopes: [read] });
    const a = await codeViaNats(system, client, user, { scopes: [read] });
    const b = await codeViaNats(system, client, user, { scopes: [read] });
    const first = await exchangeCode(system, client, a.code, a.verifier);
    const second = await exchangeCode(system, client, b.code, b.verifier);
    const rotated = await refreshRequest(system, client, first.body.refresh_token as string);
    assert.equal(rotated.status, 200);
    await refreshRequest(system, client, first.body.refresh_token as string); // reuse: family A revoked
    assert.equal((await refreshRequest(system, client, second.body.refresh_token as string)).status, 200);
  });
});
