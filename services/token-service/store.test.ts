// Atomicity and expiry are properties of the store, so this runs against the real database
// (FerretDB here): every exactly-once operation is raced.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { MongoClient, type Db } from 'mongodb';
import { addSeconds } from '#shared/clock.ts';
import { randomToken } from '#shared/crypto.ts';
import { createLogger } from '#shared/logger.ts';
import { refreshGraceClaimId, refreshTokenClaimId } from '#shared/grants/refresh-tokens.ts';
import { revocationsCollection } from '#shared/grants/revocation-feed.ts';
import { createTokenStore, type RefreshTokenFamily, type TokenStore } from './store.ts';
import { uniqueMongoUri } from '#shared/testing/suite-servers.ts';

const databaseUri = uniqueMongoUri('tokenstore');

let mongo: MongoClient;
let db: Db;
let store: TokenStore;
/** Several stores on one database, as several token-service instances are: each groups its own inserts. */
let instances: TokenStore[];
const now = new Date();
const codeExpiresAt = addSeconds(now, 60);
const RACE = 10;
const INSTANCES = 5;

before(async () => {
  mongo = await MongoClient.connect(databaseUri);
  db = mongo.db();
  const log = createLogger('test', 'silent');
  store = await createTokenStore(db, log);
  instances = [store, ...await Promise.all(Array.from({ length: INSTANCES - 1 }, () => createTokenStore(db, log)))];
});
after(async () => {
  await db.dropDatabase();
  await mongo.close();
});

/** RACE concurrent calls, spread over the instances: grouped into one insert within each, separate inserts across them. */
const race = <T>(fn: (s: TokenStore) => Promise<T>) => Promise.all(Array.from({ length: RACE }, (_, i) => fn(instances[i % INSTANCES]!)));
const winners = (results: boolean[]) => results.filter(Boolean).length;

function family(overrides: Partial<RefreshTokenFamily> = {}): RefreshTokenFamily {
  return {
    grantId: randomToken(16), clientId: 'c_a', sub: 'u_1', username: 'alice', scopes: ['read', 'write'], authTime: now,
    accessTokenTtlSeconds: 600, createdAt: now, expiresAt: addSeconds(now, 3600), revokedAt: null, ...overrides,
  };
}

const familyDoc = (grantId: string) =>
  db.collection<{ _id: string; revokedAt: Date | null; expiresAt: Date }>('refresh_token_families').findOne({ _id: grantId });
const claimDoc = (id: string) => db.collection<{ _id: string; expiresAt: Date }>('grant_claims').findOne({ _id: id });

describe('token store: authorization codes', () => {
  it('lets exactly one of concurrent claims redeem a code, and the code then reads as used', async () => {
    for (let round = 0; round < 3; round++) {
      const grantId = randomToken(16);
      assert.equal(await store.codeConsumed(grantId), false);
      assert.equal(winners(await race((s) => s.claimCode(grantId, codeExpiresAt, now))), 1);
      assert.equal(await store.claimCode(grantId, codeExpiresAt, now), false, 'and never again');
      assert.equal(await store.codeConsumed(grantId), true);
    }
  });

  it('keeps a code\u2019s claim a day past the code\u2019s expiry, so a late replay is still recognised', async () => {
    const grantId = randomToken(16);
    await store.claimCode(grantId, codeExpiresAt, now);
    assert.equal((await claimDoc(`code:${grantId}`))?.expiresAt.getTime(), addSeconds(codeExpiresAt, 86_400).getTime());
  });

  it('answers concurrent reads of a code alike: unused before its claim, used after it', async () => {
    const grantId = randomToken(16);
    assert.deepEqual(await race((s) => s.codeConsumed(grantId)), Array(RACE).fill(false));
    await store.claimCode(grantId, codeExpiresAt, now);
    assert.deepEqual(await race((s) => s.codeConsumed(grantId)), Array(RACE).fill(true));
  });

  it('lets one caller handle a replay, and remembers it a day past the later of the code\u2019s expiry and now', async () => {
    const grantId = randomToken(16);
    assert.equal(winners(await race((s) => s.claimCodeReplay(grantId, codeExpiresAt, now))), 1);
    assert.equal(await store.claimCodeReplay(grantId, codeExpiresAt, now), false);
    assert.equal((await claimDoc(`code_replay:${grantId}`))?.expiresAt.getTime(), addSeconds(codeExpiresAt, 86_400).getTime());
    const late = randomToken(16);
    await store.claimCodeReplay(late, addSeconds(now, -60), now);
    assert.equal((await claimDoc(`code_replay:${late}`))?.expiresAt.getTime(), addSeconds(now, 86_400).getTime());
  });

  it('leaves the family revoked when a replay is handled while the redemption lands, whichever insert comes first', async () => {
    for (let round = 0; round < 3; round++) {
      const f = family();
      // Either the redemption lands first and the replay revokes it, or the block lands first and the redemption fails.
      await Promise.all([instances[1]!.createFamily(f), instances[2]!.revokeOrBlockFamily({ ...f, revokedAt: now }, now)]);
      assert.notEqual((await familyDoc(f.grantId))?.revokedAt, null);
    }
  });
});

describe('token store: refresh tokens', () => {
  it('lets exactly one of concurrent spends of a refresh token win, and none later', async () => {
    for (let round = 0; round < 3; round++) {
      const f = family();
      await store.createFamily(f);
      const token = { grantId: f.grantId, generation: round };
      assert.equal(winners(await race((s) => s.spendRefreshToken(token, f.expiresAt, now))), 1);
      assert.equal(await store.spendRefreshToken(token, f.expiresAt, now), false);
    }
  });

  it('spends each generation by its own claim, kept a day past the family\u2019s expiry (introspection looks for it)', async () => {
    const f = family();
    assert.equal(await store.refreshTokenSpent({ grantId: f.grantId, generation: 0 }), false);
    assert.equal(await store.spendRefreshToken({ grantId: f.grantId, generation: 0 }, f.expiresAt, now), true);
    assert.equal(await store.refreshTokenSpent({ grantId: f.grantId, generation: 0 }), true);
    assert.equal(await store.refreshTokenSpent({ grantId: f.grantId, generation: 1 }), false, 'the next generation is not');
    assert.equal(winners(await race((s) => s.spendRefreshToken({ grantId: f.grantId, generation: 1 }, f.expiresAt, now))), 1, 'the next generation is unspent');
    const claim = await claimDoc(refreshTokenClaimId({ grantId: f.grantId, generation: 0 }));
    assert.equal(claim?._id, `refresh:${f.grantId}:0`);
    assert.equal(claim?.expiresAt.getTime(), addSeconds(f.expiresAt, 86_400).getTime());
    assert.equal(await store.spendRefreshToken({ grantId: randomToken(16), generation: 0 }, f.expiresAt, now), true, 'another grant\u2019s token is another claim');
  });

  it('tells when a refresh token was spent, and lets exactly one of concurrent callers use its grace', async () => {
    const f = family();
    const token = { grantId: f.grantId, generation: 0 };
    assert.equal(await store.refreshTokenSpentAt(token), null);
    const spentAt = new Date(Math.floor(Date.now() / 1000) * 1000 + 123);
    await store.spendRefreshToken(token, f.expiresAt, spentAt);
    assert.equal((await instances[1]!.refreshTokenSpentAt(token))?.getTime(), spentAt.getTime(), 'read by another instance');
    assert.equal(await store.refreshGraceUsed(token), false);
    assert.equal(winners(await race((s) => s.claimRefreshGrace(token, f.expiresAt, now))), 1);
    assert.equal(await store.claimRefreshGrace(token, f.expiresAt, now), false);
    assert.equal(await instances[2]!.refreshGraceUsed(token), true);
    assert.equal(await store.refreshGraceUsed({ ...token, generation: 1 }), false, 'each generation has its own grace');
    assert.equal((await claimDoc(refreshGraceClaimId(token)))?.expiresAt.getTime(), addSeconds(f.expiresAt, 86_400).getTime());
  });
});

describe('token store: refresh token families', () => {
  it('creates a family once; one blocked by a replay stays revoked', async () => {
    const f = family();
    assert.equal(winners(await race((s) => s.createFamily(f))), 1);

    const blocked = family({ revokedAt: now });
    assert.equal(await store.revokeOrBlockFamily(blocked, now), true);
    assert.equal(await store.createFamily({ ...blocked, revokedAt: null }), false);
    assert.notEqual((await familyDoc(blocked.grantId))?.revokedAt, null);
  });

  it('revokes a family and reports it to exactly one caller; a live family blocked by a replay is revoked', async () => {
    const f = family();
    await store.createFamily(f);
    assert.equal(winners(await race((s) => s.revokeFamily(f.grantId, f.expiresAt, now))), 1);
    assert.equal(await store.revokeFamily(f.grantId, f.expiresAt, now), false, 'nor later');
    assert.equal((await familyDoc(f.grantId))?.revokedAt?.getTime(), now.getTime());
    assert.equal((await claimDoc(`revoked:${f.grantId}`))?.expiresAt.getTime(), f.expiresAt.getTime());

    const live = family();
    await store.createFamily(live);
    assert.equal(await store.revokeOrBlockFamily({ ...live, revokedAt: now }, now), true);
    assert.notEqual((await familyDoc(live.grantId))?.revokedAt, null);
    assert.equal(await store.revokeFamily(live.grantId, live.expiresAt, now), false, 'reported once, by whichever revoked it first');
  });

  it('reports the revocation of a grant whose family is not stored (e.g. swept) once', async () => {
    const grantId = randomToken(16);
    assert.equal(winners(await race((s) => s.revokeFamily(grantId, addSeconds(now, 60), now))), 1);
    assert.equal(await familyDoc(grantId), null, 'nothing is created');
  });

  it('revokes every live family of an owner with a client, and takes their revocation claims', async () => {
    const sub = `u_${randomToken(4)}`;
    const [a, b, other, expired] = [family({ sub }), family({ sub }), family({ sub, clientId: 'c_b' }), family({ sub, expiresAt: now })];
    for (const x of [a, b, other, expired]) await store.createFamily(x);
    assert.deepEqual((await store.revokeFamiliesOf(sub, 'c_a', now)).map((x) => x.grantId).sort(), [a.grantId, b.grantId].sort());
    assert.notEqual((await familyDoc(a.grantId))?.revokedAt, null);
    assert.notEqual((await familyDoc(b.grantId))?.revokedAt, null);
    assert.equal((await familyDoc(other.grantId))?.revokedAt, null);
    assert.equal((await familyDoc(expired.grantId))?.revokedAt, null);
    assert.equal(await store.revokeFamily(a.grantId, a.expiresAt, now), false, 'already revoked');
    assert.deepEqual(await store.revokeFamiliesOf(sub, 'c_a', now), []);
    assert.equal((await store.familyExpiresAt(a.grantId))?.getTime(), a.expiresAt.getTime());
    assert.equal(await store.familyExpiresAt('none'), null);
  });

  it('gives no family expiry for a code\u2019s claim alone (a client without refresh tokens)', async () => {
    const claimOnly = { ...family(), revokedAt: now, claimOnly: true as const };
    assert.equal(await store.createFamily(claimOnly), true);
    assert.equal(await store.familyExpiresAt(claimOnly.grantId), null);
  });
});

describe('token store: revocations and client authentication events', () => {
  it('records a revocation idempotently, keeping the later instants', async () => {
    const key = randomToken(8);
    await store.recordRevocation({ kind: 'grant', key, issuedBefore: now, expiresAt: addSeconds(now, 600) }, now);
    await store.recordRevocation({ kind: 'grant', key, issuedBefore: addSeconds(now, -5), expiresAt: addSeconds(now, 60) }, now);
    const doc = await revocationsCollection(db).findOne({ _id: `grant:${key}` });
    assert.equal(doc?.expiresAt.getTime(), addSeconds(now, 600).getTime());
    assert.equal(doc?.issuedBefore.getTime(), now.getTime());
    assert.equal(doc?.kind, 'grant');
    assert.equal(doc?.key, key);
  });

  it('keeps every concurrent failure and returns events newest first', async () => {
    const id = `c_${randomToken(6)}`;
    await race((s) => s.recordClientAuthEvent(id, 'failure', now));
    await store.recordClientAuthEvent(id, 'lock', now);
    const events = await store.recentClientAuthEvents(id, 20, now);
    assert.equal(events.length, RACE + 1);
    assert.equal(events[0]?.kind, 'lock', 'an event of the same instant recorded later comes first');
    assert.equal((await store.recentClientAuthEvents(id, 5, now)).length, 5);
    assert.deepEqual(await store.recentClientAuthEvents('c_never_failed', 5, now), []);
  });

  it('sweeps what has expired: families and claims (a claim a day after its family)', async () => {
    const f = family({ expiresAt: addSeconds(now, -86_401) });
    await store.createFamily(f);
    await store.spendRefreshToken({ grantId: f.grantId, generation: 0 }, f.expiresAt, now);
    const live = family();
    await store.spendRefreshToken({ grantId: live.grantId, generation: 0 }, live.expiresAt, now);
    assert.ok(await store.sweepExpired(now) >= 2);
    assert.equal(await familyDoc(f.grantId), null);
    assert.equal(await claimDoc(refreshTokenClaimId({ grantId: f.grantId, generation: 0 })), null);
    assert.ok(await claimDoc(refreshTokenClaimId({ grantId: live.grantId, generation: 0 })), 'a spent token of a live family stays spent');
  });

  it('sweeps families revoked before the cutoff, though unexpired, and keeps live and lately revoked ones', async () => {
    const dead = family({ revokedAt: addSeconds(now, -7200) });
    const lately = family({ revokedAt: addSeconds(now, -60) });
    const live = family();
    for (const f of [dead, lately, live]) await store.createFamily(f);
    await store.sweepExpired(now, addSeconds(now, -3600));
    const left = await db.collection('refresh_token_families').find({ _id: { $in: [dead, lately, live].map((f) => f.grantId) } as never }).toArray();
    assert.deepEqual(left.map((d) => d._id).sort(), [lately.grantId, live.grantId].sort());
    await store.sweepExpired(now);
    assert.equal(await db.collection('refresh_token_families').countDocuments({ _id: { $in: [lately.grantId, live.grantId] } as never }), 2, 'no cutoff: revoked families wait for expiry');
  });
});

describe('token store: revocations decided and not yet recorded', () => {
  const later = addSeconds(now, 120);
  const listed = async (at: Date, decidedBefore: Date) => (await store.decidedRevocations(at, decidedBefore)).map((d) => d.grantId);

  it('lists a decided revocation until its record is stored, whichever way it was decided', async () => {
    const [a, b, c] = [family(), family(), family({ sub: `u_${randomToken(4)}` })];
    await store.createFamily(c);
    await store.claimFamilyRevocation(a.grantId, a.expiresAt, now);
    await store.revokeFamily(b.grantId, b.expiresAt, now);
    await store.revokeFamiliesOf(c.sub, c.clientId, now);
    for (const f of [a, b, c]) assert.ok((await listed(now, later)).includes(f.grantId), 'decided, not recorded');
    assert.deepEqual((await store.decidedRevocations(now, later)).find((d) => d.grantId === a.grantId)?.familyExpiresAt, a.expiresAt);
    assert.ok(!(await listed(now, now)).includes(a.grantId), 'not one decided at or after decidedBefore: it may be on its way');
    await store.recordRevocation({ kind: 'grant', key: a.grantId, issuedBefore: now, expiresAt: a.expiresAt }, now);
    await store.revocationRecorded(b.grantId, now);
    const left = await listed(now, later);
    assert.ok(!left.includes(a.grantId) && !left.includes(b.grantId), 'recorded');
    assert.ok(left.includes(c.grantId));
    assert.ok(!(await listed(addSeconds(c.expiresAt, 1), addSeconds(c.expiresAt, 60))).includes(c.grantId), 'its tokens can no longer be presented');
    await store.sweepExpired(addSeconds(c.expiresAt, 1));
    assert.equal(await db.collection('unrecorded_revocations').countDocuments({ _id: c.grantId } as never), 0, 'swept when the family expires');
  });

  // On FerretDB 1.24 every claim is read to answer a filter on anything but _id alone.
  it('reads the short list, not the claims, except when asked for revocations decided by earlier releases', async () => {
    const legacy = randomToken(16);
    await db.collection('grant_claims').insertOne({ _id: `revoked:${legacy}`, createdAt: now, expiresAt: addSeconds(now, 3600) } as never);
    const watcher = await MongoClient.connect(databaseUri, { monitorCommands: true });
    const read: string[] = [];
    watcher.on('commandStarted', (event) => {
      if (event.commandName === 'find') read.push(event.command.find);
    });
    try {
      const watched = await createTokenStore(watcher.db(), createLogger('test', 'silent'));
      read.length = 0;
      assert.ok(!(await watched.decidedRevocations(now, later)).some((d) => d.grantId === legacy));
      assert.deepEqual(read, ['unrecorded_revocations']);
      assert.ok((await watched.decidedRevocationsFromClaims(now, later)).some((d) => d.grantId === legacy), 'an earlier release\'s claim');
      await watched.recordRevocation({ kind: 'grant', key: legacy, issuedBefore: now, expiresAt: addSeconds(now, 3600) }, now);
      assert.ok(!(await watched.decidedRevocationsFromClaims(now, later)).some((d) => d.grantId === legacy), 'recorded');
    } finally {
      await watcher.close();
    }
  });
});
