// ensureStream against a real nats-server (JetStream): created when missing, an existing stream
// brought in line in place (what AUDIT_STREAM_REPLICAS and DPOP_PROOF_STREAM_REPLICAS rely on for a
// stream made by an earlier release), and instances starting together all succeed.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from '@nats-io/transport-node';
import { nanos, type NatsConnection } from '@nats-io/nats-core';
import { jetstream, jetstreamManager, StorageType, type JetStreamManager } from '@nats-io/jetstream';
import { startPrivateNats, type PrivateNats } from '../../test/helpers/nats-server.ts';
import { ensureStream } from './ensure-stream.ts';

let nats: PrivateNats;
let nc: NatsConnection;
let jsm: JetStreamManager;

before(async () => {
  nats = await startPrivateNats();
  nc = await connect({ servers: nats.url });
  jsm = await jetstreamManager(nc);
});
after(async () => {
  await nc?.close();
  await nats?.stop();
});

const creation = (subject: string) => ({ subjects: [subject], storage: StorageType.Memory });

describe('ensureStream', () => {
  it('creates a missing stream with its settings', async () => {
    await ensureStream(jsm, 'T_CREATE', { max_age: nanos(60_000), duplicate_window: nanos(30_000) }, creation('t.create'));
    const { config } = await jsm.streams.info('T_CREATE');
    assert.deepEqual([config.subjects, config.max_age, config.duplicate_window], [['t.create'], nanos(60_000), nanos(30_000)]);
  });

  it('updates an existing stream whose settings differ, in place, keeping its messages and its other settings', async () => {
    await jsm.streams.add({ name: 'T_UPDATE', ...creation('t.update'), max_age: nanos(60_000), duplicate_window: nanos(60_000), num_replicas: 1 });
    await jetstream(nc).publish('t.update', 'kept');
    await ensureStream(jsm, 'T_UPDATE', { max_age: nanos(120_000), duplicate_window: nanos(90_000), num_replicas: 1 }, creation('ignored.subject'));
    const { config, state } = await jsm.streams.info('T_UPDATE');
    assert.deepEqual([config.max_age, config.duplicate_window, config.subjects], [nanos(120_000), nanos(90_000), ['t.update']]);
    assert.equal(state.messages, 1);
  });

  it('lets instances starting together all succeed, one stream made', async () => {
    await Promise.all(Array.from({ length: 5 }, () => ensureStream(jsm, 'T_RACE', { max_age: nanos(60_000) }, creation('t.race'))));
    assert.equal((await jsm.streams.info('T_RACE')).config.max_age, nanos(60_000));
  });
});
