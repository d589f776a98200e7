// JetStreamAcks against a real nats-server: acks (and duplicates) come back, and every way a
// publish can go unacked ends in a rejection: no stream, a stream that refuses, no ack in time,
// a closed connection.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { connect } from '@nats-io/transport-node';
import type { NatsConnection } from '@nats-io/nats-core';
import { DiscardPolicy, jetstreamManager, StorageType, type JetStreamManager } from '@nats-io/jetstream';
import { startPrivateNats, type PrivateNats } from '../../test/helpers/nats-server.ts';
import { JetStreamAcks } from './jetstream-acks.ts';

let nats: PrivateNats;
let nc: NatsConnection;
let jsm: JetStreamManager;

before(async () => {
  nats = await startPrivateNats();
  nc = await connect({ servers: nats.url, inboxPrefix: '_INBOX.acks-test' });
  jsm = await jetstreamManager(nc);
  await jsm.streams.add({ name: 'T_ACKS', subjects: ['t.acks.>'], storage: StorageType.Memory });
});
after(async () => {
  await nc?.close();
  await nats?.stop();
});

/** How long a promise took to settle, and with what. */
async function settled<T>(promise: Promise<T>): Promise<{ ms: number; value?: T; error?: Error }> {
  const start = performance.now();
  try {
    const value = await promise;
    return { ms: performance.now() - start, value };
  } catch (error) {
    return { ms: performance.now() - start, error: error as Error };
  }
}

describe('JetStreamAcks', () => {
  it('resolves with the stream and sequence JetStream acked, and says when the message id was a duplicate', async () => {
    const acks = new JetStreamAcks(nc, 2000);
    const first = await acks.publish('t.acks.one', '{"n":1}', 'id-1');
    const other = await acks.publish('t.acks.one', '{"n":2}', 'id-2');
    const again = await acks.publish('t.acks.one', '{"n":1}', 'id-1');
    assert.deepEqual(first, { stream: 'T_ACKS', seq: first.seq, duplicate: false });
    assert.equal(other.seq, first.seq + 1);
    assert.deepEqual(again, { stream: 'T_ACKS', seq: first.seq, duplicate: true });
    const stored = await jsm.streams.getMessage('T_ACKS', { seq: first.seq });
    assert.equal(stored?.header.get('Nats-Msg-Id'), 'id-1');
  });

  it('takes its acks on an inbox under the connection’s inbox prefix (where the deployment’s permissions let replies in)', async () => {
    const watcher = await connect({ servers: nats.url });
    const replies: string[] = [];
    watcher.subscribe('_INBOX.acks-test.>', { callback: (_error, msg) => { replies.push(msg.subject); } });
    await watcher.flush();
    await new JetStreamAcks(nc, 2000).publish('t.acks.inbox', '{}', 'id-inbox');
    await watcher.flush();
    await watcher.close();
    assert.equal(replies.length, 1);
  });

  it('rejects at once when no stream takes the subject, and when the stream refuses the message', async () => {
    const acks = new JetStreamAcks(nc, 5000);
    const none = await settled(acks.publish('t.nostream', '{}', 'id-none'));
    assert.match(none.error?.message ?? '', /no JetStream stream takes t\.nostream/);
    assert.ok(none.ms < 1000, `took ${none.ms} ms`);

    await jsm.streams.add({ name: 'T_FULL', subjects: ['t.full'], storage: StorageType.Memory, max_msgs: 1, discard: DiscardPolicy.New });
    await acks.publish('t.full', '{}', 'id-full-1');
    const refused = await settled(acks.publish('t.full', '{}', 'id-full-2'));
    assert.match(refused.error?.message ?? '', /JetStream refused the message: maximum messages exceeded/);
    assert.ok(refused.ms < 1000, `took ${refused.ms} ms`);
  });

  it('rejects each publish nobody acks once its own timeout has passed, not before', { timeout: 10_000 }, async () => {
    const mute = nc.subscribe('t.mute'); // takes the message, answers nothing: a leader gone away
    const acks = new JetStreamAcks(nc, 400);
    const start = performance.now();
    const first = settled(acks.publish('t.mute', '{}', 'id-mute-1'));
    await sleep(200);
    const second = settled(acks.publish('t.mute', '{}', 'id-mute-2'));
    const [a, b] = await Promise.all([first, second]);
    const secondEnded = performance.now() - start;
    mute.unsubscribe();
    assert.match(a.error?.message ?? '', /no JetStream ack within 400 ms/);
    assert.match(b.error?.message ?? '', /no JetStream ack within 400 ms/);
    assert.ok(a.ms >= 395 && a.ms < 2000, `first took ${a.ms} ms`);
    assert.ok(b.ms >= 395 && secondEnded >= 595, `second took ${b.ms} ms, ended ${secondEnded} ms after the first began`);
  });

  it('rejects a reply that is not an ack: not JSON, JSON without a stream and sequence, empty without a status', async () => {
    const answers = ['not json', '{}', '{"stream":"T","seq":"1"}', ''];
    let next = 0;
    const liar = nc.subscribe('t.liar', { callback: (_error, msg) => { msg.respond(answers[next++]); } });
    await nc.flush();
    const acks = new JetStreamAcks(nc, 5000);
    const outcomes = [];
    for (const id of answers.keys()) outcomes.push(await settled(acks.publish('t.liar', '{}', `id-liar-${id}`)));
    liar.unsubscribe();
    assert.deepEqual(outcomes.map((o) => [o.value, o.ms < 2000]), answers.map(() => [undefined, true]));
    const expected = [/JSON/, /not a JetStream ack/, /not a JetStream ack/, /empty JetStream reply for t\.liar/];
    for (const [i, pattern] of expected.entries()) assert.match(outcomes[i]?.error?.message ?? '', pattern);
  });

  it('takes no forged ack for a publish whose reply subject the forger has not seen: reply subjects do not follow from one another', { timeout: 10_000 }, async () => {
    // A core subscriber of the subject sees each publish's reply subject, and here may publish into the inbox;
    // it forges an ack for the one it saw, then guesses at the next.
    const seen: string[] = [];
    const spy = nc.subscribe('t.spied', { callback: (_error, msg) => { if (msg.reply) seen.push(msg.reply); } });
    await nc.flush();
    const acks = new JetStreamAcks(nc, 600);
    const first = settled(acks.publish('t.spied', '{}', 'id-spied-1'));
    await nc.flush();
    const forged = JSON.stringify({ stream: 'OAUTH_AUDIT', seq: 1 });
    const reply = seen[0] ?? '';
    assert.ok(reply.startsWith('_INBOX.acks-test.'), reply);
    nc.publish(reply, forged); // the one reply subject it saw: that publish it can answer
    assert.deepEqual((await first).value, { stream: 'OAUTH_AUDIT', seq: 1, duplicate: false });

    const second = settled(acks.publish('t.spied', '{}', 'id-spied-2'));
    const inbox = reply.slice(0, reply.lastIndexOf('.'));
    const last = reply.slice(reply.lastIndexOf('.') + 1);
    for (const guess of [`${Number(last) + 1}`, `${Number(last) + 2}`, '1', '2', last]) nc.publish(`${inbox}.${guess}`, forged);
    const result = await second;
    spy.unsubscribe();
    assert.match(result.error?.message ?? '', /no JetStream ack within 600 ms/);
  });

  it('rejects the publishes in flight when the connection closes, without waiting for their timeout', async () => {
    const own = await connect({ servers: nats.url });
    own.subscribe('t.closing'); // takes the message, answers nothing
    await own.flush();
    const acks = new JetStreamAcks(own, 10_000);
    const pending = settled(acks.publish('t.closing', '{}', 'id-closing'));
    await own.flush();
    await own.close();
    const result = await pending;
    assert.match(result.error?.message ?? '', /connection closed/);
    assert.ok(result.ms < 2000, `took ${result.ms} ms`);
    await assert.rejects(acks.publish('t.closing', '{}', 'id-after'), /closed/i);
  });
});
