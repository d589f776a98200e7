// The store against the real database: expiry in every read, one counter per sign-in key, locks set
// once under concurrency, and grants recorded once, on FerretDB as on MongoDB.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { MongoClient, type Db } from 'mongodb';
import { randomToken, sha256 } from '#shared/crypto.ts';
import { createLogger } from '#shared/logger.ts';
import { usersCollection } from '#shared/reference-data/users.ts';
import { connect } from '@nats-io/transport-node';
import { announceReferenceDataChange, ReferenceCache } from '#shared/reference-data/reference-cache.ts';
import { createConsentUiStore, type ConsentUiStore } from './store.ts';
import { uniqueMongoUri } from '#shared/testing/suite-servers.ts';


const databaseUri = uniqueMongoUri('consentuistore');
const at = (seconds: number) => new Date(Date.UTC(2030, 0, 1) + seconds * 1000);

describe('consent-ui store', () => {
  /** What the reference cache would name (services/consent-ui/main.ts passes its subOfUsername). */
  const knownSubs = new Map<string, string>();
  let client: MongoClient;
  let db: Db;
  let store: ConsentUiStore;

  before(async () => {
    client = await MongoClient.connect(databaseUri);
    db = client.db();
    store = await createConsentUiStore(db, createLogger('consent-ui-test', 'silent'), async (username) => knownSubs.get(username));
  });
  after(async () => {
    await db?.dropDatabase();
    await client?.close();
  });

  it('finds a user by username, with the password hash only for sign-in', async () => {
    await usersCollection(db).insertOne({ _id: 'u_store', username: 'store_user', passwordHash: '$argon2id$x', groups: ['g'], createdAt: new Date() });
    knownSubs.set('store_user', 'u_store');
    assert.deepEqual(await store.findUserByUsername('store_user'), { sub: 'u_store', username: 'store_user', passwordHash: '$argon2id$x' });
    assert.equal(await store.findUserByUsername('nobody'), null);
    // A name the cache still holds for a user deleted since (here: another user's sub) finds no one.
    knownSubs.set('gone_user', 'u_store');
    assert.equal(await store.findUserByUsername('gone_user'), null);
  });

  it('replaces a password hash only while it is still the one checked, and never a disabled user\'s', async () => {
    await usersCollection(db).insertOne({ _id: 'u_rehash', username: 'rehash_user', passwordHash: '$argon2id$old', groups: [], createdAt: new Date() });
    knownSubs.set('rehash_user', 'u_rehash');
    await store.replacePasswordHash('u_rehash', '$argon2id$old', '$argon2id$new');
    assert.equal((await store.findUserByUsername('rehash_user'))?.passwordHash, '$argon2id$new');
    // Another sign-in replaced it after this one's check: this replacement is dropped.
    await store.replacePasswordHash('u_rehash', '$argon2id$old', '$argon2id$stale');
    assert.equal((await store.findUserByUsername('rehash_user'))?.passwordHash, '$argon2id$new');
    // Disabled meanwhile: the write leaves the document alone, the flag included.
    await usersCollection(db).updateOne({ _id: 'u_rehash' }, { $set: { disabled: true } });
    await store.replacePasswordHash('u_rehash', '$argon2id$new', '$argon2id$newer');
    const stored = await usersCollection(db).findOne({ _id: 'u_rehash' });
    assert.deepEqual([stored?.passwordHash, stored?.disabled], ['$argon2id$new', true]);
  });

  it('finds a user created and announced just now: the lookup waits for the load the announcement started', async () => {
    // Where the suite's NATS is, read as this file reads the database's address above (services import no test helpers).
    const nc = await connect({ servers: process.env.OAUTH_TEST_NATS_URL ?? process.env.NATS_URL ?? 'nats://127.0.0.1:4222' });
    const cache = new ReferenceCache(db, createLogger('consent-ui-test', 'silent'), ['users']);
    try {
      await cache.start(nc);
      const withCache = await createConsentUiStore(db, createLogger('consent-ui-test', 'silent'), (name) => cache.subOfUsername(name));
      const username = `new_${randomToken(4).replace(/[^a-z0-9]/gi, 'x')}`;
      await usersCollection(db).insertOne({ _id: 'u_new', username, passwordHash: '$argon2id$y', groups: [], createdAt: new Date() });
      // As the admin CLI does; after the flush this connection has received its own announcement.
      announceReferenceDataChange(nc, 'users');
      await nc.flush();
      assert.equal((await withCache.findUserByUsername(username))?.sub, 'u_new');
    } finally {
      cache.stop();
      await nc.close();
    }
  });

  it('finds a session by id hash until it expires, and not after it is deleted', async () => {
    const idHash = sha256(randomToken(32));
    await store.createSession({ _id: idHash, sub: 'u_1', username: 'alice', authTime: at(0), createdAt: at(0), expiresAt: at(60) });
    assert.equal((await store.findSession(idHash, at(59)))?.sub, 'u_1');
    assert.equal(await store.findSession(idHash, at(60)), null, 'expired');
    await store.deleteSession(idHash);
    assert.equal(await store.findSession(idHash, at(0)), null);
  });

  // FerretDB 1.24 reads the whole collection for any filter but _id alone, which its SQLite
  // backend, as scripts/local-infra.ts builds it, answers from the index; so the reads made on
  // every authorization and sign-in keep to _id.
  it('reads users (known name or not), sessions, remembered consents and failure counts by _id alone', async () => {
    const watcher = await MongoClient.connect(databaseUri, { monitorCommands: true });
    const filters: { collection: string; keys: string[] }[] = [];
    watcher.on('commandStarted', (event) => {
      if (event.commandName === 'find') filters.push({ collection: event.command.find, keys: Object.keys(event.command.filter ?? {}) });
    });
    try {
      const watched = await createConsentUiStore(watcher.db(), createLogger('consent-ui-test', 'silent'), async (username) => knownSubs.get(username));
      filters.length = 0;
      await watched.findUserByUsername('store_user');
      await watched.findUserByUsername('nobody');
      await watched.findSession(sha256(randomToken(32)), at(0));
      await watched.findConsent('u_x', 'c_x');
      await watched.findConsentUncached('u_x', 'c_x');
      await watched.loginFailures('user:x', at(0));
      // One read each, by _id, whether the name is known or not: an unknown name costs what a known one does.
      assert.deepEqual(filters, ['users', 'users', 'sessions', 'consents', 'consents', 'login_failures'].map((collection) => ({ collection, keys: ['_id'] })));
    } finally {
      await watcher.close();
    }
  });

  it('records grants, remembers scopes only when asked, lists newest first and deletes', async () => {
    await store.recordGrant('u_c', 'c_a', ['orders', 'profile'], false, at(0));
    await store.recordGrant('u_c', 'c_a', ['orders', 'payments'], true, at(10));
    await store.recordGrant('u_c', 'c_b', ['orders'], true, at(5));
    const a = await store.findConsent('u_c', 'c_a');
    assert.deepEqual([...(a?.grantedScopes ?? [])].sort(), ['orders', 'payments', 'profile']);
    assert.deepEqual([...(a?.scopes ?? [])].sort(), ['orders', 'payments']);
    assert.deepEqual(a?.createdAt, at(0));
    assert.deepEqual(a?.updatedAt, at(10));
    assert.deepEqual((await store.listConsents('u_c')).map((c) => c.clientId), ['c_a', 'c_b']);
    // With its time: the instant the caller read before sending it (a grant approved by it starts then, finding 6).
    const dated = await store.findConsentAsOf('u_c', 'c_a', at(-30));
    assert.deepEqual([dated.consent?.updatedAt, dated.readAt], [at(10), at(-30)]);
    assert.equal(await store.deleteConsent('u_c', 'c_a'), true);
    assert.equal(await store.deleteConsent('u_c', 'c_a'), false);
    assert.deepEqual((await store.listConsents('u_c')).map((c) => c.clientId), ['c_b']);
  });

  it('keeps one record when grants of one owner and client arrive at once (the system test of finding 10 shows the race)', async () => {
    const sub = `u_race_${randomToken(4)}`;
    await Promise.all(Array.from({ length: 24 }, (_, i) => store.recordGrant(sub, 'c_race', ['orders'], i % 2 === 0, at(i))));
    const docs = await db.collection('consents').find({ sub }).toArray();
    assert.equal(docs.length, 1);
    assert.deepEqual(docs[0]!.grantedScopes, ['orders']);
    assert.deepEqual(docs[0]!.scopes, ['orders']);
  });

  it('finding 11: counts failures per key in one document, one keyed call each, and forgets them after the memory period or a success', async () => {
    const key = `user:count_${randomToken(4)}`;
    assert.equal(await store.loginFailures(key, at(0)), 0);
    assert.equal(await store.addLoginFailure(key, at(0), at(100)), 1);
    assert.equal(await store.addLoginFailure(key, at(50), at(150)), 2);
    assert.equal(await store.addLoginFailure(`${key}x`, at(50), at(150)), 1, 'keys are apart');
    assert.equal(await store.loginFailures(key, at(149)), 2, 'each failure extends the memory');
    assert.equal(await db.collection('login_failures').countDocuments({ key }), 1, 'one document, however many failures');
    assert.equal(await store.loginFailures(key, at(150)), 0, 'forgotten');
    assert.equal(await store.addLoginFailure(key, at(150), at(250)), 1, 'a forgotten count starts again');
    await store.clearLoginFailures(key);
    assert.equal(await store.loginFailures(key, at(160)), 0);
  });

  it('finding 11: the first failures of a key, counted at once, survive the race for its counter', async () => {
    // Concurrent updates of one document are not exact on FerretDB (the process serializes them);
    // what must hold here is that concurrent first writes never fail on the duplicate key.
    const key = `user:race_${randomToken(4)}`;
    const counts = await Promise.all(Array.from({ length: 8 }, () => store.addLoginFailure(key, at(0), at(100))));
    assert.ok(counts.every((n) => n >= 1));
    assert.equal(await db.collection('login_failures').countDocuments({ key }), 1);
    assert.ok((await store.loginFailures(key, at(1))) >= 1);
  });

  it('sets each lock once, even when many try at once, and a forgotten lock can be set again', async () => {
    const key = `user:lock_${randomToken(4)}`;
    assert.equal(await store.latestLoginLock(key, at(0)), null);
    const results = await Promise.all(Array.from({ length: 10 }, () => store.addLoginLock(key, 1, at(0), at(60), at(100))));
    assert.equal(results.filter(Boolean).length, 1);
    assert.equal(await store.addLoginLock(key, 2, at(60), at(180), at(160)), true);
    assert.deepEqual(await store.latestLoginLock(key, at(61)), { n: 2, until: at(180) });
    assert.deepEqual(await store.latestLoginLock(key, at(170)), { n: 2, until: at(180) }, 'remembered at least until it ends');
    assert.equal(await store.latestLoginLock(key, at(180)), null, 'forgotten');
    assert.equal(await store.addLoginLock(key, 1, at(200), at(260), at(300)), true, 'a new series');
    await store.clearLoginFailures(key);
    assert.equal(await store.latestLoginLock(key, at(200)), null);
  });

  it('sweeps only what has expired', async () => {
    const live = sha256(randomToken(32));
    const dead = sha256(randomToken(32));
    await store.createSession({ _id: live, sub: 'u', username: 'u', authTime: at(0), createdAt: at(0), expiresAt: at(1000) });
    await store.createSession({ _id: dead, sub: 'u', username: 'u', authTime: at(0), createdAt: at(0), expiresAt: at(10) });
    const key = `ip:sweep_${randomToken(4)}`;
    await store.addLoginFailure(key, at(0), at(10));
    await store.addLoginLock(key, 1, at(0), at(5), at(10));
    assert.ok((await store.sweepExpired(at(10))) >= 3);
    assert.ok(await store.findSession(live, at(20)));
    assert.equal(await db.collection('sessions').countDocuments({ _id: dead as never }), 0);
    assert.equal(await db.collection('login_failures').countDocuments({ key }), 0);
    assert.equal(await db.collection('login_locks').countDocuments({ key }), 0);
  });
});
