import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { MongoClient, type Db } from 'mongodb';
import { importJWK, jwtVerify, SignJWT } from 'jose';
import { addSeconds } from '#shared/clock.ts';
import { decrypt } from './key-encryption.ts';
import { publishedKeysFilter, signingKeysCollection } from './signing-keys.ts';
import { generateSigningKey, insertSigningKey, KEY_RETIRE_MARGIN_SECONDS, rotateSigningKey } from './rotate-signing-key.ts';
import { uniqueMongoUri } from '#shared/testing/suite-servers.ts';

let mongo: MongoClient;
let db: Db;
before(async () => {
  mongo = await MongoClient.connect(uniqueMongoUri('keys'));
  db = mongo.db();
});
after(async () => {
  await db.dropDatabase();
  await mongo.close();
});

describe('generateSigningKey', () => {
  it('makes an ES256 pair whose private half only the key-encryption key opens, bound to its kid', async () => {
    const kek = randomBytes(32);
    const key = await generateSigningKey(kek, new Date());
    assert.equal(key.publicJwk.kid, key._id);
    assert.equal(key.publicJwk.d, undefined);
    const privateJwk = JSON.parse(decrypt(kek, key.privateJwkEncrypted, key._id));
    const jwt = await new SignJWT({}).setProtectedHeader({ alg: 'ES256' }).sign(await importJWK(privateJwk, 'ES256'));
    await jwtVerify(jwt, await importJWK(key.publicJwk, 'ES256'));
    assert.throws(() => decrypt(randomBytes(32), key.privateJwkEncrypted, key._id));
    assert.throws(() => decrypt(kek, key.privateJwkEncrypted, 'another-kid'));
  });
});

describe('rotateSigningKey', () => {
  it('supersedes the current keys and keeps them published until every token they signed expired', async () => {
    const kek = randomBytes(32);
    const t0 = new Date();
    const first = await insertSigningKey(db, kek, t0);
    const t1 = addSeconds(t0, 10);
    const rotation = await rotateSigningKey(db, kek, t1, 600);
    assert.deepEqual(rotation.superseded, [first._id]);
    assert.equal(rotation.retireAt.getTime(), addSeconds(t1, 600 + KEY_RETIRE_MARGIN_SECONDS).getTime());
    const keys = signingKeysCollection(db);
    const old = await keys.findOne({ _id: first._id });
    assert.equal(old?.supersededAt?.getTime(), t1.getTime());
    assert.equal((await keys.findOne({ _id: rotation.kid }))?.supersededAt, null);
    const published = async (at: Date) => (await keys.find(publishedKeysFilter(at)).toArray()).map((k) => k._id).sort();
    assert.deepEqual(await published(addSeconds(t1, 600)), [first._id, rotation.kid].sort());
    assert.deepEqual(await published(addSeconds(t1, 600 + KEY_RETIRE_MARGIN_SECONDS + 1)), [rotation.kid]);
  });
});
