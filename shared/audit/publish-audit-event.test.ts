// The audit publisher against a real nats-server (JetStream) and the real database: an event whose
// publish is not acked waits in the outbox, and the relay sends it once the stream takes it again;
// while JetStream is away the breaker sends events straight to the outbox; relays take turns; and
// a large outbox drains fast (the figures are printed).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { MongoClient, type Db } from 'mongodb';
import { connect } from '@nats-io/transport-node';
import { nanos, type NatsConnection, type Subscription } from '@nats-io/nats-core';
import { jetstreamManager } from '@nats-io/jetstream';
import { pino } from 'pino';
import { randomToken } from '#shared/crypto.ts';
import { AUDIT_STREAM } from '#shared/nats/subjects.ts';
import { startPrivateNats, type PrivateNats } from '../../test/helpers/nats-server.ts';
import { DUPLICATE_WINDOW_MS, ensureAuditStream } from './audit-stream.ts';
import { cloudEvent, auditSubject } from './cloud-event.ts';
import { AUDIT_OUTBOX, AuditPublisher, outboxDoc, type OutboxDoc } from './publish-audit-event.ts';
import { uniqueMongoUri } from '#shared/testing/suite-servers.ts';

const silent = pino({ level: 'silent' });
let mongo: MongoClient;
let nats: PrivateNats;
let nc: NatsConnection;
const dbs: Db[] = [];
const watchedClients: MongoClient[] = [];

/** A database of this test's own (each test its own outbox and leases). */
function freshDb(): Db {
  const db = mongo.db(`t_audit_${randomToken(6).replace(/[^a-z0-9]/gi, '')}`);
  dbs.push(db);
  return db;
}

async function streamMessages(): Promise<number> {
  return (await (await jetstreamManager(nc)).streams.info(AUDIT_STREAM)).state.messages;
}

/**
 * JetStream that takes publishes and never acks them, as a stream leader that went away: no
 * OAUTH_AUDIT stream (which alone would fail a publish at once, "no responders") and a mute
 * subscriber on its subjects. Unsubscribe it to end that.
 */
async function muteJetStream(): Promise<Subscription> {
  await (await jetstreamManager(nc)).streams.delete(AUDIT_STREAM).catch(() => undefined);
  return nc.subscribe('oauth.audit.>');
}

/** A fresh database on a client of its own that counts the documents sent to the outbox in insert commands. */
async function watchedDb(): Promise<{ db: Db; outboxInserts: () => number }> {
  const client = await MongoClient.connect(uniqueMongoUri('audit'), { monitorCommands: true });
  watchedClients.push(client);
  let inserted = 0;
  client.on('commandStarted', (event) => {
    if (event.commandName === 'insert' && event.command.insert === AUDIT_OUTBOX) inserted += (event.command.documents as unknown[]).length;
  });
  const db = client.db(freshDb().databaseName);
  return { db, outboxInserts: () => inserted };
}

before(async () => {
  mongo = await MongoClient.connect(uniqueMongoUri('audit'));
  nats = await startPrivateNats();
  nc = await connect({ servers: nats.url });
});
after(async () => {
  await nc?.close();
  await nats?.stop();
  for (const db of dbs) await db.dropDatabase().catch(() => undefined);
  for (const client of watchedClients) await client.close();
  await mongo?.close();
});

describe('AuditPublisher', () => {
  it('keeps an event the stream did not take in the outbox, relays it once the stream takes it, and never doubles it', async () => {
    const db = freshDb();
    const outbox = db.collection<OutboxDoc>(AUDIT_OUTBOX);
    const audit = new AuditPublisher(nc, db, silent, 'urn:test');
    // No OAUTH_AUDIT stream yet: nothing acks the publish.
    audit.emit('oauth.client.created', 'c_1', { client_id: 'c_1' });
    await audit.flush();
    assert.equal(await outbox.countDocuments(), 1, 'kept in the outbox');

    assert.equal(await audit.relayOnce(), 0, 'still no stream');
    const [kept] = await outbox.find().toArray();
    assert.equal(await outbox.countDocuments(), 1, 'a failed round leaves the event for the next');

    await ensureAuditStream(nc, 1);
    const { config } = await (await jetstreamManager(nc)).streams.info(AUDIT_STREAM);
    assert.equal(config.duplicate_window, nanos(DUPLICATE_WINDOW_MS), 'duplicates are recognised for 10 minutes');
    assert.equal(config.num_replicas, 1);
    assert.equal(await audit.relayOnce(), 1, 'relayed in the next round');
    assert.equal(await outbox.countDocuments(), 0);
    assert.equal(await streamMessages(), 1);
    // A second send of the same event (a relay racing the first publish) is dropped by its Nats-Msg-Id.
    await outbox.insertOne(kept!);
    assert.equal(await audit.relayOnce(), 1);
    assert.equal(await streamMessages(), 1, 'no duplicate');
    assert.equal(await outbox.countDocuments(), 0);
  });

  it('once a publish is not acked, sends events straight to the outbox for a while, then probes and closes again', async () => {
    const db = freshDb();
    const outbox = db.collection<OutboxDoc>(AUDIT_OUTBOX);
    const mute = await muteJetStream(); // a publish nobody acks waits for its whole timeout
    // hedgeMs far off: only the publish timeout opens the breaker here, and a slow ack cannot send the probe to the outbox.
    const audit = new AuditPublisher(nc, db, silent, 'urn:test', { publishTimeoutMs: 500, breakerOpenMs: 5000, hedgeMs: 10_000 });
    audit.emit('oauth.client.created', 'c_1', { client_id: 'c_1' });
    await audit.flush();
    assert.equal(audit.breakerOpen, true);
    const publishedBefore = mute.getReceived();
    for (let i = 0; i < 200; i++) audit.emit('oauth.client.updated', 'c_1', { client_id: 'c_1' });
    await audit.flush();
    await nc.flush(); // anything published by then has reached the mute subscriber
    assert.equal(mute.getReceived(), publishedBefore, 'while the breaker is open, events go to the outbox without a publish (none waits for its timeout)');
    assert.equal(await outbox.countDocuments(), 201);
    mute.unsubscribe();
    await ensureAuditStream(nc, 1);
    await new Promise((r) => setTimeout(r, 5100));
    audit.emit('oauth.client.updated', 'c_1', { client_id: 'c_1' });
    await audit.flush();
    assert.equal(audit.breakerOpen, false, 'the probe was acked');
    assert.equal(await outbox.countDocuments(), 201, 'the probe went to the stream');
    assert.equal(await audit.relayOnce(), 201);
    assert.equal(await streamMessages(), 202);
  });

  it('settles an emit once JetStream has acked the event, not before', async () => {
    const db = freshDb();
    await ensureAuditStream(nc, 1);
    const before = await streamMessages();
    const audit = new AuditPublisher(nc, db, silent, 'urn:test', { hedgeMs: 10_000 });
    await audit.emit('oauth.client.created', 'c_6', { client_id: 'c_6' });
    assert.equal(await streamMessages(), before + 1, 'in the stream when the emit settles');
    assert.equal(await db.collection(AUDIT_OUTBOX).countDocuments(), 0);
    await audit.flush();
  });

  it('settles an emit that JetStream does not ack within hedgeMs once the event is in the outbox, long before the publish times out', async () => {
    const { db, outboxInserts } = await watchedDb();
    const outbox = db.collection<OutboxDoc>(AUDIT_OUTBOX);
    const mute = await muteJetStream();
    try {
      const audit = new AuditPublisher(nc, db, silent, 'urn:test', { publishTimeoutMs: 4000, hedgeMs: 100 });
      const started = Date.now();
      await audit.emit('oauth.client.created', 'c_7', { client_id: 'c_7' });
      const settledAfterMs = Date.now() - started;
      assert.equal(await outbox.countDocuments(), 1, 'in the outbox when the emit settles');
      assert.ok(settledAfterMs < 3000, `settled before the publish timed out (${settledAfterMs} ms)`);
      assert.equal(audit.breakerOpen, true, 'the events that follow go straight to the outbox');
      await audit.flush(); // the publish times out: the event is not written a second time
      assert.equal(outboxInserts(), 1, 'one outbox insert');
      assert.equal(await outbox.countDocuments(), 1);
    } finally {
      mute.unsubscribe();
    }
  });

  it('does not settle an emit whose hedge could not store the event: it waits for the publish to fail and a second store', async () => {
    const mute = await muteJetStream();
    // A database nothing answers at: every outbox insert fails after 200 ms.
    const unreachable = new MongoClient('mongodb://127.0.0.1:9/none', { serverSelectionTimeoutMS: 200 });
    const logged: string[] = [];
    const log = pino({ level: 'warn' }, { write: (line: string) => void logged.push(JSON.parse(line).msg) });
    try {
      const audit = new AuditPublisher(nc, unreachable.db(), log, 'urn:test', { publishTimeoutMs: 1500, hedgeMs: 50 });
      await audit.emit('oauth.client.created', 'c_10', { client_id: 'c_10' });
      assert.deepEqual(logged, [
        'audit event lost: neither NATS nor the outbox took it', // the hedge's store
        'audit publish not acked; event kept in the outbox', // the publish timed out: only now may the emit settle
        'audit event lost: neither NATS nor the outbox took it', // the second store
      ]);
      await audit.flush();
    } finally {
      mute.unsubscribe();
      await unreachable.close();
    }
  });

  it('does not hedge an event acked while the event loop stalled past hedgeMs', async () => {
    const db = freshDb();
    await ensureAuditStream(nc, 1);
    const audit = new AuditPublisher(nc, db, silent, 'urn:test', { hedgeMs: 50 });
    const emitted = audit.emit('oauth.client.created', 'c_8', { client_id: 'c_8' });
    // Runs right after the publish went out, and blocks the loop while the ack arrives: when the
    // loop goes on, the hedge's timer comes due before the ack is read.
    setImmediate(() => {
      const until = Date.now() + 300;
      while (Date.now() < until);
    });
    await emitted;
    await audit.flush();
    assert.equal(audit.breakerOpen, false, 'the breaker stays closed');
    assert.equal(await db.collection(AUDIT_OUTBOX).countDocuments(), 0, 'acked: nothing in the outbox');
  });

  it('gives events of one type and key one id: sent twice, the stream keeps one', async () => {
    const db = freshDb();
    await ensureAuditStream(nc, 1);
    const before = await streamMessages();
    const audit = new AuditPublisher(nc, db, silent, 'urn:test', { hedgeMs: 10_000 });
    const once = { key: `g_${randomToken(6)}`, at: new Date() };
    for (let i = 0; i < 2; i++) {
      await audit.emit('oauth.authorization.approved', 'c_9', { client_id: 'c_9' }, once);
      await audit.emit('oauth.code.issued', 'c_9', { client_id: 'c_9', grant_id: once.key }, once);
    }
    await audit.emit('oauth.code.issued', 'c_9', { client_id: 'c_9' }, { ...once, key: `g_${randomToken(6)}` });
    assert.equal(await streamMessages(), before + 3, 'one approval and one code event for the grant, one code event for the other');
    await audit.flush();
  });

  it('publishes the events of one turn of the event loop together at its end, by itself, in the order they were emitted', async () => {
    const db = freshDb();
    await ensureAuditStream(nc, 1);
    const jsm = await jetstreamManager(nc);
    const { state } = await jsm.streams.info(AUDIT_STREAM);
    const audit = new AuditPublisher(nc, db, silent, 'urn:test');
    const types = ['oauth.authorization.requested', 'oauth.authorization.approved', 'oauth.code.issued'] as const;
    const sentBefore = nc.stats().outMsgs;
    for (const type of types) audit.emit(type, 'c_4', { client_id: 'c_4' });
    assert.equal(nc.stats().outMsgs, sentBefore, 'nothing sent while the turn runs');
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(nc.stats().outMsgs, sentBefore + types.length, 'all sent at the end of the turn, in one go');
    // No flush: they are acked without being asked for.
    const deadline = Date.now() + 3000;
    while ((await streamMessages()) < state.messages + types.length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    assert.equal(await streamMessages(), state.messages + types.length, 'every event in the stream');
    const typeAt = async (seq: number) => (await jsm.streams.getMessage(AUDIT_STREAM, { seq }))!.json<{ type: string }>().type;
    const stored = await Promise.all(types.map((_, i) => typeAt(state.last_seq + 1 + i)));
    assert.deepEqual(stored, [...types]);
    assert.equal(await db.collection(AUDIT_OUTBOX).countDocuments(), 0, 'all acked, none in the outbox');
    await audit.flush();
  });

  it('with publishAtOnce, sends each event as it is emitted (a CLI may exit before the turn ends)', async () => {
    const db = freshDb();
    await ensureAuditStream(nc, 1);
    const audit = new AuditPublisher(nc, db, silent, 'urn:test', { publishAtOnce: true });
    const sentBefore = nc.stats().outMsgs;
    audit.emit('oauth.client.created', 'c_5', { client_id: 'c_5' });
    assert.equal(nc.stats().outMsgs, sentBefore + 1);
    await audit.flush();
  });

  it('two relays take turns: one holds the lease slot, the other stands by', async () => {
    const db = freshDb();
    const outbox = db.collection<OutboxDoc>(AUDIT_OUTBOX);
    await ensureAuditStream(nc, 1);
    const events = Array.from({ length: 50 }, () => cloudEvent('oauth.token.issued', 'urn:test', 'c_2', { client_id: 'c_2' }));
    await outbox.insertMany(events.map((e) => outboxDoc(auditSubject(e.type), e)));
    const a = new AuditPublisher(nc, db, silent, 'urn:a');
    const b = new AuditPublisher(nc, db, silent, 'urn:b');
    const [sentA, sentB] = await Promise.all([a.relayOnce(), b.relayOnce()]);
    assert.deepEqual([sentA, sentB].sort((x, y) => x - y), [0, 50], 'one relay did the work');
    assert.equal(await outbox.countDocuments(), 0);
  });

  // Goal 5 s; measured 4.6 to 5.6 s on FerretDB 1.24 on a shared 2-core machine (load 3 to 4), so the
  // bound that fails the test is 10 s and the figure is printed. The deletes dominate (see outbox-relay.ts).
  it('drains 5,000 outbox events within 10 s, each event once', async () => {
    const db = freshDb();
    const outbox = db.collection<OutboxDoc>(AUDIT_OUTBOX);
    await ensureAuditStream(nc, 1);
    const before = await streamMessages();
    const total = 5000;
    const events = Array.from({ length: total }, (_, i) =>
      cloudEvent('oauth.token.issued', 'urn:test', 'c_3', { client_id: 'c_3', jti: `j${i}`, grant_id: `g${i}` }));
    for (let i = 0; i < total; i += 1000) await outbox.insertMany(events.slice(i, i + 1000).map((e) => outboxDoc(auditSubject(e.type), e)));
    const relays = [new AuditPublisher(nc, db, silent, 'urn:a'), new AuditPublisher(nc, db, silent, 'urn:b')];
    // Rounds of both relays at once, as two instances' timers would run them, until neither finds anything.
    const started = Date.now();
    let sent = 0;
    let ms = 0;
    while (Date.now() - started < 15_000) {
      const round = (await Promise.all(relays.map((r) => r.relayOnce()))).reduce((x, y) => x + y, 0);
      if (round === 0) break;
      sent += round;
      ms = Date.now() - started;
    }
    process.stdout.write(`# outbox drain: ${total} events in ${ms} ms (${Math.round(total / (ms / 1000))} events/s), ${sent} sent by 2 relays\n`);
    assert.equal(await outbox.countDocuments(), 0);
    assert.equal(await streamMessages(), before + total, 'each event once');
    assert.ok(ms <= 10_000, `drained in ${ms} ms`);
  });
});

describe('AuditPublisher.backlog (the outbox metrics)', () => {
  it('reports the outbox size and the age of its oldest event, both 0 when it is empty', async () => {
    const db = freshDb();
    const publisher = new AuditPublisher(nc, db, silent, 'urn:test:backlog');
    assert.deepEqual(await publisher.backlog(), { depth: 0, oldestAgeSeconds: 0 });
    const waiting = [30_000, 20_000, 10_000].map((ageMs): OutboxDoc => {
      const event = cloudEvent('oauth.token.issued', 'urn:test:backlog', 'client-backlog', { client_id: 'client-backlog' });
      return { ...outboxDoc(auditSubject('oauth.token.issued'), event), createdAt: new Date(Date.now() - ageMs) };
    });
    await db.collection<OutboxDoc>(AUDIT_OUTBOX).insertMany(waiting);
    const backlog = await publisher.backlog();
    assert.equal(backlog.depth, 3);
    assert.ok(backlog.oldestAgeSeconds >= 30 && backlog.oldestAgeSeconds < 60, `the oldest waits ${backlog.oldestAgeSeconds} s`);
  });
});
