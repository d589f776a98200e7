// Collects audit events from JetStream (stream OAUTH_AUDIT) for a test: start collecting *before*
// acting, then wait for the events with a deadline. Only events published after the call
// returns are seen (the consumer starts at the stream's next sequence number), so events of
// earlier tests never leak in; the predicate narrows to this test (e.g. its client_id).
import { DeliverPolicy, jetstream, jetstreamManager, type ConsumerMessages } from '@nats-io/jetstream';
import assert from 'node:assert/strict';
import type { NatsConnection } from '@nats-io/nats-core';
import { AUDIT_STREAM } from '#shared/nats/subjects.ts';
import type { CloudEvent } from '#shared/audit/cloud-event.ts';

export type AuditCollector = {
  /** Every matching event seen so far, in stream order. */
  events: CloudEvent[];
  /** Resolves with the events of `type` once at least `count` were seen; rejects after `timeoutMs`. */
  waitFor(type: string, count?: number, timeoutMs?: number): Promise<CloudEvent[]>;
  /** Events of `type` seen so far. */
  ofType(type: string): CloudEvent[];
  /**
   * Waits for `count` events of each type, in any order (two instances publish on connections of
   * their own), then `settleMs` more, and asserts there are exactly that many: room for a wrong
   * extra event to show up.
   */
  waitForExactly(counts: Record<string, number>, settleMs?: number): Promise<void>;
  stop(): Promise<void>;
};

export const forClient = (clientId: string) => (event: CloudEvent) => event.subject === clientId || event.data.client_id === clientId;

export async function collectAuditEvents(nc: NatsConnection, predicate: (event: CloudEvent) => boolean = () => true): Promise<AuditCollector> {
  const jsm = await jetstreamManager(nc);
  const { state } = await jsm.streams.info(AUDIT_STREAM);
  // No subject filter: the stream holds only oauth.audit.> (and NATS 2.9 has no filter_subjects).
  const consumer = await jetstream(nc).consumers.get(AUDIT_STREAM, {
    deliver_policy: DeliverPolicy.StartSequence,
    opt_start_seq: state.last_seq + 1,
  });
  const events: CloudEvent[] = [];
  const waiters = new Set<() => void>();
  const messages: ConsumerMessages = await consumer.consume();
  const done = (async () => {
    for await (const msg of messages) {
      const event = msg.json<CloudEvent>();
      if (predicate(event)) {
        events.push(event);
        for (const wake of [...waiters]) wake();
      }
    }
  })();

  const ofType = (type: string) => events.filter((e) => e.type === type);
  const waitFor: AuditCollector['waitFor'] = (type, count = 1, timeoutMs = 5000) =>
    new Promise((resolve, reject) => {
      const check = () => {
        const found = ofType(type);
        if (found.length < count) return;
        clearTimeout(timer);
        waiters.delete(check);
        resolve(found);
      };
      const timer = setTimeout(() => {
        waiters.delete(check);
        reject(new Error(`expected ${count} ${type} event(s) within ${timeoutMs} ms, saw ${ofType(type).length} (events: ${events.map((e) => e.type).join(', ') || 'none'})`));
      }, timeoutMs);
      waiters.add(check);
      check();
    });
  const waitForExactly: AuditCollector['waitForExactly'] = async (counts, settleMs = 300) => {
    for (const [type, count] of Object.entries(counts)) await waitFor(type, count);
    await new Promise((resolve) => setTimeout(resolve, settleMs));
    for (const [type, count] of Object.entries(counts)) assert.equal(ofType(type).length, count, `${type} events`);
  };
  return {
    events,
    ofType,
    waitFor,
    waitForExactly,
    stop: async () => {
      await messages.close();
      await done.catch(() => undefined);
    },
  };
}

/** Every audit event in OAUTH_AUDIT from stream sequence `fromSeq` on, in order. */
export async function readAuditStream(nc: NatsConnection, fromSeq: number): Promise<CloudEvent[]> {
  const { state } = await (await jetstreamManager(nc)).streams.info(AUDIT_STREAM);
  if (state.last_seq < fromSeq) return [];
  const consumer = await jetstream(nc).consumers.get(AUDIT_STREAM, { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: fromSeq });
  const events: CloudEvent[] = [];
  const messages = await consumer.consume();
  const timer = setTimeout(() => void messages.close(), 10_000);
  for await (const msg of messages) {
    events.push(msg.json<CloudEvent>());
    if (msg.info.streamSequence >= state.last_seq) break;
  }
  clearTimeout(timer);
  await messages.close();
  return events;
}
