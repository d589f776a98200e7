// Atomicity and expiry are properties of the store, so this runs against the real database
// (FerretDB here): every exactly-once operation is raced.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { MongoClient, type Db } from 'mongodb';
import { addSeconds } from '#shared/clock.ts';
import { randomToken, sha256 } from '#shared/crypto.ts';
import { createLogger } from '#shared/logger.ts';
import { revocationsCollection } from '#shared/revocations.ts';
import { createTokenStore, type RefreshTokenFamily, type TokenStore } from './store.ts';

const base = new URL(process.env.OAUTH_TEST_MONGODB_URI ?? process.env.MONGODB_URI ?? 'mongodb://127.0.0.1:27017/oauth');
base.pathname = `/t_tokenstore_${randomToken(6).replace(/[^a-z0-9]/gi, '')}`;

let mongo: MongoClient;
let db: Db;
let store: TokenStore;
const now = new Date();
const RACE = 10;

before(async () => {
  mongo = await MongoClient.connect(base.toString());
  db = mongo.db();
  store = await createTokenStore(db, createLogger('test', 'silent'));
});
after(async () => {
  await db.dropDatabase();
  await mongo.close();
});

const race = <T>(fn: () => Promise<T>) => Promise.all(Array.from({ length: RACE }, fn));

async function insertCode(overrides: Record<string, unknown> = {}) {
  const code = randomToken(32);
  const verifier = randomToken(32);
  await db.collection('authorization_codes').insertOne({
    _id: sha256(code) as never, clientId: 'c_a', redirectUri: 'https://a.example.com/cb', redirectUriSent: true, codeChallenge: sha256(verifier),
    scopes: ['read'], sub: 'u_1', username: 'alice', authTime: now, grantId: randomToken(16),
    createdAt: now, expiresAt: addSeconds(now, 60), consumedAt: null, ...overrides,
  });
  return { codeHash: sha256(code), challenge: sha256(verifier) };
}

function family(overrides: Partial<RefreshTokenFamily> = {}): RefreshTokenFamily {
  return {
    grantId: randomToken(16), clientId: 'c_a', sub: 'u_1', username: 'alice', scopes: ['read', 'write'], authTime: now,
    currentHash: sha256(randomToken()), accessTokenTtlSeconds: 600, createdAt: now, rotatedAt: null,
    expiresAt: addSeconds(now, 3600), revokedAt: null, ...overrides,
  };
}

describe('token store: authorization codes', () => {
  it('lets exactly one of concurrent claims redeem a code', async () => {
    for (let round = 0; round < 3; round++) {
      const { codeHash, challenge } = await insertCode();
      const binding = { clientId: 'c_a', codeChallenge: challenge, redirectUri: 'https://a.example.com/cb' };
      const results = await race(() => store.claimCode(codeHash, binding, now));
      assert.equal(results.filter(Boolean).length, 1);
      assert.ok((await store.findCode(codeHash))?.consumedAt);
      assert.equal(await store.claimCode(codeHash, binding, now), null, 'and never again');
    }
  });

  it('redeems a code for a client with refresh tokens by inserting its family: exactly one of concurrent claims, and the code then reads as used', async () => {
    for (let round = 0; round < 3; round++) {
      const { codeHash, challenge } = await insertCode();
      const binding = { clientId: 'c_a', codeChallenge: challenge, redirectUri: 'https://a.example.com/cb' };
      const familyFor = (code: { grantId: string }) => family({ grantId: code.grantId });
      const results = await race(() => store.claimCode(codeHash, binding, now, familyFor));
      const winners = results.filter((r) => r !== null);
      assert.equal(winners.length, 1);
      assert.ok(await store.findFamily(winners[0]!.grantId, now), 'the family is stored');
      assert.ok((await store.findCode(codeHash))?.consumedAt, 'used, by its family');
      assert.equal(await store.claimCode(codeHash, binding, now, familyFor), null, 'and never again');
    }
  });

  it('consumes nothing when the binding does not match, and nothing expired', async () => {
    const { codeHash, challenge } = await insertCode();
    for (const binding of [
      { clientId: 'c_b', codeChallenge: challenge, redirectUri: 'https://a.example.com/cb' },
      { clientId: 'c_a', codeChallenge: sha256('other'), redirectUri: 'https://a.example.com/cb' },
      { clientId: 'c_a', codeChallenge: null, redirectUri: 'https://a.example.com/cb' },
      { clientId: 'c_a', codeChallenge: challenge, redirectUri: undefined },
      { clientId: 'c_a', codeChallenge: challenge, redirectUri: 'https://a.example.com/cb/' },
    ]) assert.equal(await store.claimCode(codeHash, binding, now), null);
    assert.equal(await store.claimCode(codeHash, { clientId: 'c_a', codeChallenge: challenge, redirectUri: 'https://a.example.com/cb' }, addSeconds(now, 60)), null);
    assert.equal((await store.findCode(codeHash))?.consumedAt, null);
  });

  it('accepts a missing redirect_uri only when the authorization request left it out', async () => {
    const { codeHash } = await insertCode({ redirectUriSent: false, codeChallenge: null });
    assert.ok(await store.claimCode(codeHash, { clientId: 'c_a', codeChallenge: null, redirectUri: undefined }, now));
  });

  it('lets one caller handle a replay', async () => {
    const { codeHash } = await insertCode();
    const marks = await race(() => store.claimCodeReplay(codeHash, addSeconds(now, 60), now));
    assert.equal(marks.filter(Boolean).length, 1);
  });
});

describe('token store: refresh token families', () => {
  it('lets exactly one of concurrent spends of a refresh token win, and none later; the winner moves the current token', async () => {
    const f = family();
    assert.equal(await store.createFamily(f), true);
    const hash = f.currentHash!;
    assert.equal(await store.refreshTokenSpent(hash, now), false);
    const spends = await race(() => store.spendRefreshToken(hash, f.expiresAt, now));
    assert.equal(spends.filter(Boolean).length, 1);
    assert.equal(await store.spendRefreshToken(hash, f.expiresAt, now), false);
    assert.equal(await store.refreshTokenSpent(hash, now), true);
    await store.setCurrentRefreshToken(f.grantId, hash, 'next', now);
    const stored = await store.findFamily(f.grantId, now);
    assert.equal(stored?.currentHash, 'next');
    assert.equal(stored?.rotatedAt?.getTime(), now.getTime());
    await store.setCurrentRefreshToken(f.grantId, hash, 'stale', now);
    assert.equal((await store.findFamily(f.grantId, now))?.currentHash, 'next', 'only from the token that was current');
  });

  it('creates a family once; one blocked by a replay stays revoked', async () => {
    const f = family();
    const created = await race(() => store.createFamily(f));
    assert.equal(created.filter(Boolean).length, 1);

    const blocked = family({ revokedAt: now });
    assert.equal(await store.revokeOrBlockFamily(blocked, now), true);
    assert.equal(await store.createFamily({ ...blocked, revokedAt: null }), false);
    const stored = await store.findFamily(blocked.grantId, now);
    assert.notEqual(stored?.revokedAt, null);
    assert.equal(stored?.currentHash, null);
  });

  it('revokes a family and reports it to exactly one caller; a blocked live family is revoked', async () => {
    const f = family();
    await store.createFamily(f);
    assert.equal(await store.familyRevocationClaimed(f.grantId, now), false);
    const reports = await race(() => store.revokeFamily(f.grantId, f.expiresAt, now));
    assert.equal(reports.filter(Boolean).length, 1);
    assert.notEqual((await store.findFamily(f.grantId, now))?.revokedAt, null);
    assert.equal(await store.familyRevocationClaimed(f.grantId, now), true);

    const live = family();
    await store.createFamily(live);
    await store.revokeOrBlockFamily({ ...live, revokedAt: now }, now);
    assert.notEqual((await store.findFamily(live.grantId, now))?.revokedAt, null);
    assert.equal(await store.findFamily(live.grantId, live.expiresAt), null, 'expired families are not found');
  });

  it('revokes every live family of an owner with a client', async () => {
    const sub = `u_${randomToken(4)}`;
    const [a, b, other] = [family({ sub }), family({ sub }), family({ sub, clientId: 'c_b' })];
    for (const x of [a, b, other]) await store.createFamily(x);
    assert.equal(await store.revokeFamiliesOf(sub, 'c_a', now), 2);
    assert.equal(await store.familyRevocationClaimed(a.grantId, now), true);
    assert.notEqual((await store.findFamily(b.grantId, now))?.revokedAt, null);
    assert.equal((await store.findFamily(other.grantId, now))?.revokedAt, null);
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
    await race(() => store.recordClientAuthEvent(id, 'failure', now));
    await store.recordClientAuthEvent(id, 'lock', now);
    const events = await store.recentClientAuthEvents(id, 20, now);
    assert.equal(events.length, RACE + 1);
    assert.equal(events[0]?.kind, 'lock', 'an event of the same instant recorded later comes first');
    assert.equal((await store.recentClientAuthEvents(id, 5, now)).length, 5);
    assert.deepEqual(await store.recentClientAuthEvents('c_never_failed', 5, now), []);
  });

  it('sweeps what has expired', async () => {
    const f = family({ expiresAt: addSeconds(now, -1) });
    await store.createFamily(f);
    assert.ok(await store.sweepExpired(now) >= 1);
    assert.equal(await db.collection('refresh_token_families').countDocuments({ _id: f.grantId as never }), 0);
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
