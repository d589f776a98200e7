// Runs against the real database: the filters are what keep retired keys and old records out.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { MongoClient, type Db } from 'mongodb';
import { signingKeysCollection } from '#shared/keys/signing-keys.ts';
import { activeRevocations, revocationsCollection, revocationId, revocationsChangedSince } from '#shared/grants/revocation-feed.ts';
import { createValidationStore } from './store.ts';
import { uniqueMongoUri } from '#shared/testing/suite-servers.ts';

let mongo: MongoClient;
let db: Db;
const T0 = new Date('2030-01-01T00:00:00Z');
const at = (seconds: number) => new Date(T0.getTime() + seconds * 1000);

before(async () => {
  mongo = await MongoClient.connect(uniqueMongoUri('validationstore'));
  db = mongo.db();
});
after(async () => {
  await db.dropDatabase();
  await mongo.close();
});

describe('validation store', () => {
  it('reads the published keys: not yet retired', async () => {
    const blob = { iv: '', tag: '', data: '' };
    const jwk = { kty: 'EC', crv: 'P-256', x: 'x', y: 'y' };
    await signingKeysCollection(db).insertMany([
      { _id: 'live', alg: 'ES256', publicJwk: jwk, privateJwkEncrypted: blob, createdAt: T0, supersededAt: null, retireAt: null },
      { _id: 'retiring', alg: 'ES256', publicJwk: jwk, privateJwkEncrypted: blob, createdAt: T0, supersededAt: T0, retireAt: at(60) },
      { _id: 'retired', alg: 'ES256', publicJwk: jwk, privateJwkEncrypted: blob, createdAt: T0, supersededAt: T0, retireAt: at(-1) },
    ]);
    const keys = await createValidationStore(db).publishedKeys(T0);
    assert.deepEqual(keys.map((k) => k.kid).sort(), ['live', 'retiring']);
    assert.deepEqual(keys.find((k) => k.kid === 'live'), { kid: 'live', alg: 'ES256', publicJwk: jwk, retireAt: null });
  });

  it('loads live revocations (and those expired within the grace), and those written or widened since an instant', async () => {
    const revocations = revocationsCollection(db);
    // changedAt: the database's clock at the last write or widening (what resyncs compare).
    const doc = (kind: 'jti' | 'grant' | 'subject_client', key: string, createdAt: Date, issuedBefore: Date, expiresAt: Date, changedAt: Date) =>
      ({ _id: revocationId(kind, key), kind, key, createdAt, issuedBefore, expiresAt, changedAt });
    await revocations.insertMany([
      doc('jti', 'live', at(-100), at(-100), at(500), at(-100)),
      doc('grant', 'just-expired', at(-700), at(-700), at(-5), at(-700)),
      doc('jti', 'long-gone', at(-900), at(-900), at(-60), at(-900)),
      doc('subject_client', 'u1 c1', at(-700), at(-2), at(600), at(-2)),
    ]);
    const active = await activeRevocations(db, T0, 10_000);
    assert.deepEqual(active.map((r) => r.key).sort(), ['just-expired', 'live', 'u1 c1']);
    assert.deepEqual(active.find((r) => r.key === 'u1 c1'),
      { kind: 'subject_client', key: 'u1 c1', issuedBeforeMs: at(-2).getTime(), expiresAtMs: at(600).getTime(), changedAtMs: at(-2).getTime() });

    const changed = await revocationsChangedSince(db, at(-10));
    assert.deepEqual(changed.map((r) => r.key).sort(), ['u1 c1'], 'widened (stamped) after the instant');
    assert.deepEqual((await revocationsChangedSince(db, at(-200))).map((r) => r.key).sort(), ['live', 'u1 c1']);
  });

});
