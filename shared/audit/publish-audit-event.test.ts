// The audit publisher against a real nats-server (JetStream) and the real database: an event whose
// publish is not acked waits in the outbox, and the relay sends it once the stream takes it again.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { MongoClient, type Db } from 'mongodb';
import { connect } from '@nats-io/transport-node';
import type { NatsConnection } from '@nats-io/nats-core';
import { jetstreamManager } from '@nats-io/jetstream';
import { pino } from 'pino';
import { randomToken } from '#shared/crypto.ts';
import { AUDIT_STREAM } from '#shared/nats/subjects.ts';
import { startPrivateNats, type PrivateNats } from '../../test/helpers/nats-server.ts';
import { ensureAuditStream } from './audit-stream.ts';
import { AuditPublisher, type OutboxDoc } from './publish-audit-event.ts';

const uri = new URL(process.env.OAUTH_TEST_MONGODB_URI ?? process.env.MONGODB_URI ?? 'mongodb://127.0.0.1:27017/oauth');
uri.pathname = `/t_audit_${randomToken(6).replace(/[^a-z0-9]/gi, '')}`;
let mongo: MongoClient;
let db: Db;
let nats: PrivateNats;
let nc: NatsConnection;

before(async () => {
  mongo = await MongoClient.connect(uri.toString());
  db = mongo.db();
  nats = await startPrivateNats();
  nc = await connect({ servers: nats.url });
});
after(async () => {
  await nc?.close();
  await nats?.stop();
  await db?.dropDatabase();
  await mongo?.close();
});

describe('AuditPublisher', () => {
  it('keeps an event the stream did not take in the outbox, and a failed relay round leaves it ready for the next', async () => {
    const outbox = db.collection<OutboxDoc>('audit_outbox');
    const audit = new AuditPublisher(nc, outbox, pino({ level: 'silent' }), 'urn:test');
    // No OAUTH_AUDIT stream yet: nothing acks the publish.
    audit.emit('oauth.client.created', 'c_1', { client_id: 'c_1' });
    await audit.flush();
    assert.equal(await outbox.countDocuments(), 1, 'kept in the outbox');

    assert.equal(await audit.relayOnce(), 0, 'still no stream');
    const [kept] = await outbox.find().toArray();
    assert.ok(kept!.leaseUntil <= new Date(), 'a failed round gives its lease back, so the event is not held back for the lease');

    await ensureAuditStream(nc, 1);
    assert.equal(await audit.relayOnce(), 1, 'relayed in the next round');
    assert.equal(await outbox.countDocuments(), 0);
    const { state } = await (await jetstreamManager(nc)).streams.info(AUDIT_STREAM);
    assert.equal(state.messages, 1);
    // A second send of the same event (a relay racing the first publish) is dropped by its Nats-Msg-Id.
    await outbox.insertOne({ ...kept!, leaseUntil: new Date(0) });
    assert.equal(await audit.relayOnce(), 1);
    assert.equal((await (await jetstreamManager(nc)).streams.info(AUDIT_STREAM)).state.messages, 1, 'no duplicate');
  });
});
