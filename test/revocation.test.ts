// Revocation against the real services: the RFC 7009 endpoint (a client revokes only its own
// tokens; unknown tokens answer 200) and oauth.consent.revoke (an owner withdraws a client).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Subjects } from '#shared/nats/subjects.ts';
import { startRevocationSet, subjectClientKey } from '#shared/grants/revocation-feed.ts';
import { systemClock } from '#shared/clock.ts';
import { createLogger } from '#shared/logger.ts';
import { randomToken } from '#shared/crypto.ts';
import { createTokenStore } from '../services/token-service/store.ts';
import { startTokenSystem, type SeededClient, type SeededUser, type System } from './helpers/system.ts';
import { codeViaNats, exchangeCode } from './helpers/oauth.ts';
import { collectAuditEvents, forClient } from './helpers/audit.ts';
import { grantIdOf, refreshRequest, revokeRequest, verifyAccessToken, watchRevocations } from './helpers/token-requests.ts';

let system: System;
let scope: string;
let user: SeededUser;

before(async () => {
  ({ system, scope, user } = await startTokenSystem('revocation', 'mail'));
});
after(() => system.stop());

async function signedIn(client?: SeededClient, who = user) {
  const c = client ?? await system.seed.client({ scopes: [scope] });
  const { code, verifier } = await codeViaNats(system, c, who);
  const res = await exchangeCode(system, c, code, verifier);
  assert.equal(res.status, 200, JSON.stringify(res.body));
  return { client: c, refreshToken: res.body.refresh_token as string, accessToken: res.body.access_token as string };
}

const revocation = (id: string) => system.db.collection('revocations').findOne({ _id: id as never });

describe('POST /revoke', () => {
  it('revokes the client\u2019s refresh token: the family and, by grant, its access tokens', async () => {
    const { client, refreshToken, accessToken } = await signedIn();
    const grantId = grantIdOf(accessToken);
    const audit = await collectAuditEvents(system.nc, forClient(client.clientId));
    const broadcasts = watchRevocations(system);
    try {
      const res = await revokeRequest(system, client, refreshToken, 'refresh_token');
      assert.equal(res.status, 200);
      assert.equal(res.body, '');
      assert.equal(res.headers.get('cache-control'), 'no-store');
      assert.equal((await refreshRequest(system, client, refreshToken)).body.error, 'invalid_grant');
      assert.ok((await system.db.collection('refresh_token_families').findOne({ _id: grantId as never }))?.revokedAt instanceof Date);
      assert.equal((await revocation(`grant:${grantId}`))?.kind, 'grant');
      await broadcasts.waitFor((r) => r.kind === 'grant' && r.key === grantId);
      const [revoked] = await audit.waitFor('oauth.token.revoked');
      assert.equal(revoked!.data.grant_id, grantId);
      assert.equal(revoked!.data.token_type, 'refresh_token');
      assert.ok(!JSON.stringify(revoked).includes(refreshToken));
    } finally {
      broadcasts.sub.unsubscribe();
      await audit.stop();
    }
  });

  it('records the client\u2019s access token by jti until it expires, whatever the hint says', async () => {
    const { client, accessToken, refreshToken } = await signedIn();
    const { payload } = await verifyAccessToken(system, accessToken);
    const audit = await collectAuditEvents(system.nc, forClient(client.clientId));
    const broadcasts = watchRevocations(system);
    try {
      const res = await revokeRequest(system, client, accessToken, 'refresh_token');
      assert.equal(res.status, 200);
      const record = await revocation(`jti:${payload.jti}`);
      assert.equal(record?.kind, 'jti');
      assert.equal(record?.key, payload.jti);
      assert.ok(record!.expiresAt.getTime() >= payload.exp! * 1000);
      const broadcast = await broadcasts.waitFor((r) => r.kind === 'jti' && r.key === payload.jti);
      assert.ok(broadcast.expires_at >= payload.exp!);
      const [revoked] = await audit.waitFor('oauth.token.revoked');
      assert.equal(revoked!.data.jti, payload.jti);
      assert.equal(revoked!.data.token_type, 'access_token');
      // An access token's revocation leaves the refresh token family alone.
      assert.equal((await refreshRequest(system, client, refreshToken)).status, 200);
    } finally {
      broadcasts.sub.unsubscribe();
      await audit.stop();
    }
  });

  it('leaves another client\u2019s tokens untouched and still answers 200', async () => {
    const { client: owner, refreshToken, accessToken } = await signedIn();
    const other = await system.seed.client({ scopes: [scope] });
    const { payload } = await verifyAccessToken(system, accessToken);
    assert.equal((await revokeRequest(system, other, refreshToken)).status, 200);
    assert.equal((await revokeRequest(system, other, accessToken, 'access_token')).status, 200);
    assert.equal(await revocation(`jti:${payload.jti}`), null);
    assert.equal(await revocation(`grant:${payload.gid}`), null);
    assert.equal((await refreshRequest(system, owner, refreshToken)).status, 200);
  });

  it('answers 200 for unknown tokens and unknown hints, and changes nothing', async () => {
    const client = await system.seed.client({ scopes: [scope] });
    const before = await system.db.collection('revocations').countDocuments();
    for (const [token, hint] of [['not-a-token', undefined], [`${'a'.repeat(22)}.${'b'.repeat(43)}`, 'refresh_token'], ['a.b.c', 'access_token'], ['x', 'something_else']] as const) {
      const res = await revokeRequest(system, client, token, hint);
      assert.equal(res.status, 200);
    }
    assert.equal(await system.db.collection('revocations').countDocuments(), before);
  });

  it('lets a public client revoke its own refresh token with client_id only', async () => {
    const pub = await system.seed.client({ scopes: [scope], type: 'public' });
    const { refreshToken } = await signedIn(pub);
    assert.equal((await revokeRequest(system, pub, refreshToken)).status, 200);
    assert.equal((await refreshRequest(system, pub, refreshToken)).body.error, 'invalid_grant');
  });

  it('requires client authentication and the token parameter', async () => {
    const client = await system.seed.client({ scopes: [scope] });
    const wrong = await revokeRequest(system, { ...client, clientSecret: 'wrong' }, 'x');
    assert.equal(wrong.status, 401);
    assert.equal(JSON.parse(wrong.body).error, 'invalid_client');
    assert.equal(wrong.headers.get('www-authenticate'), 'Basic realm="oauth"');
    const missing = await revokeRequest(system, client, undefined);
    assert.equal(missing.status, 400);
    assert.equal(JSON.parse(missing.body).error, 'invalid_request');
  });
});

describe(Subjects.consentRevoke, () => {
  it('ends every refresh token family of the owner with the client and records a subject_client revocation', async () => {
    const client = await system.seed.client({ scopes: [scope] });
    const owner = await system.seed.user();
    const a = await signedIn(client, owner);
    const b = await signedIn(client, owner);
    const bystander = await signedIn(client, user);
    const audit = await collectAuditEvents(system.nc, forClient(client.clientId));
    const broadcasts = watchRevocations(system);
    try {
      const reply = await system.nc.request(Subjects.consentRevoke, JSON.stringify({ sub: owner.sub, client_id: client.clientId }), { timeout: 5000 });
      assert.deepEqual(reply.json(), { revoked_families: 2 });
      for (const t of [a, b]) assert.equal((await refreshRequest(system, client, t.refreshToken)).body.error, 'invalid_grant');
      assert.equal((await refreshRequest(system, client, bystander.refreshToken)).status, 200, 'another owner keeps access');
      const key = subjectClientKey(owner.sub, client.clientId);
      const record = await revocation(`subject_client:${key}`);
      assert.equal(record?.kind, 'subject_client');
      assert.ok(record!.issuedBefore.getTime() <= Date.now());
      await broadcasts.waitFor((r) => r.kind === 'subject_client' && r.key === key);
      const [event] = await audit.waitFor('oauth.consent.revoked');
      assert.equal(event!.data.sub, owner.sub);
      assert.equal(event!.data.count, 2);
    } finally {
      broadcasts.sub.unsubscribe();
      await audit.stop();
    }
  });

  it('answers a malformed request with a service error', async () => {
    const reply = await system.nc.request(Subjects.consentRevoke, JSON.stringify({ sub: 'x' }), { timeout: 5000 });
    assert.equal(reply.headers?.get('Nats-Service-Error-Code'), '400');
    assert.equal(reply.json<{ error: string }>().error, 'invalid_request');
  });
});

// Security finding 7: the resync read records changed since the reader's last resync (its
// clock) while records carried the writer's clock; a writer 15 s behind plus one lost broadcast
// meant the revocation was never applied until a restart.
describe('revocation resync across instances with skewed clocks', () => {
  it('finding 7: a reader applies a revocation written by a writer 15 s behind, whose broadcast was lost, at its next resync', async () => {
    const log = createLogger('test', 'silent');
    // The reader: a real RevocationSet on this database, resynced by hand (its timer is far off).
    const reader = await startRevocationSet({ nc: system.nc, db: system.db, clock: systemClock, log, resyncMs: 60_000 });
    try {
      await reader.resync();
      // The writer: token-service's store with a clock 15 s behind; no broadcast is sent (lost).
      const writer = await createTokenStore(system.db, log);
      const writerNow = new Date(Date.now() - 15_000);
      const grantId = `g-skew-${randomToken(8)}`;
      await writer.recordRevocation({ kind: 'grant', key: grantId, issuedBefore: writerNow, expiresAt: new Date(writerNow.getTime() + 3_600_000) }, writerNow);
      const token = { grantId, sub: 'u', clientId: 'c', iat: Math.floor(writerNow.getTime() / 1000) - 60 };
      assert.equal(reader.isRevoked(token), false, 'no broadcast: not known yet');
      await reader.resync();
      assert.equal(reader.isRevoked(token), true, 'applied at the next resync');

      // A record widened later (a second revocation of the same key, again by the slow writer) is read too.
      const key = subjectClientKey(`u-${randomToken(6)}`, 'c');
      await writer.recordRevocation({ kind: 'subject_client', key, issuedBefore: new Date(writerNow.getTime() - 60_000), expiresAt: new Date(writerNow.getTime() + 3_600_000) }, writerNow);
      await reader.resync();
      const [sub] = key.split(' ');
      const later = { grantId: undefined, sub: sub!, clientId: 'c', iat: 0, iatMs: writerNow.getTime() - 30_000 };
      assert.equal(reader.isRevoked(later), false);
      await writer.recordRevocation({ kind: 'subject_client', key, issuedBefore: writerNow, expiresAt: new Date(writerNow.getTime() + 3_600_000) }, writerNow);
      await reader.resync();
      assert.equal(reader.isRevoked(later), true, 'the widened record is applied at the next resync');
    } finally {
      reader.stop();
    }
  });
});
