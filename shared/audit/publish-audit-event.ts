// Publishes audit events to JetStream with an ack and the event id as Nats-Msg-Id. A publish that
// is not acked is written to the outbox and re-sent by the relay, so no event is lost while NATS
// restarts, and JetStream's duplicate window drops the copy if the first publish did land.
// Publishing never blocks the request that caused the event.
import { jetstream, type JetStreamClient } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/nats-core';
import type { Collection } from 'mongodb';
import type { Logger } from '#shared/logger.ts';
import { auditSubject, cloudEvent, type AuditData, type AuditEventType, type CloudEvent } from './cloud-event.ts';

export type OutboxDoc = { _id: string; subject: string; event: CloudEvent; createdAt: Date; leaseUntil: Date };

export type Audit = {
  emit(type: AuditEventType, subject: string, data: AuditData): void;
};

const PUBLISH_TIMEOUT_MS = 3000;
const RELAY_LEASE_MS = 30_000;
const RELAY_BATCH = 100;

export class AuditPublisher implements Audit {
  readonly #js: JetStreamClient;
  readonly #outbox: Collection<OutboxDoc>;
  readonly #log: Logger;
  readonly #source: string;
  readonly #pending = new Set<Promise<void>>();
  #relayTimer: NodeJS.Timeout | undefined;
  #relaying = false;

  constructor(nc: NatsConnection, outbox: Collection<OutboxDoc>, log: Logger, source: string) {
    this.#js = jetstream(nc, { timeout: PUBLISH_TIMEOUT_MS });
    this.#outbox = outbox;
    this.#log = log;
    this.#source = source;
  }

  emit(type: AuditEventType, subject: string, data: AuditData): void {
    const event = cloudEvent(type, this.#source, subject, data);
    const task = this.#publishOrStore(auditSubject(type), event).finally(() => this.#pending.delete(task));
    this.#pending.add(task);
  }

  async #publishOrStore(subject: string, event: CloudEvent): Promise<void> {
    try {
      await this.#js.publish(subject, JSON.stringify(event), { msgID: event.id, timeout: PUBLISH_TIMEOUT_MS });
    } catch (error) {
      this.#log.warn({ err: error, eventId: event.id, type: event.type }, 'audit publish not acked; event kept in the outbox');
      try {
        await this.#outbox.insertOne({ _id: event.id, subject, event, createdAt: new Date(), leaseUntil: new Date(0) });
      } catch (storeError) {
        this.#log.error({ err: storeError, eventId: event.id, type: event.type }, 'audit event lost: neither NATS nor the outbox took it');
      }
    }
  }

  /** Re-sends outbox events every `intervalMs`; instances share the work through leases. */
  startRelay(intervalMs = 2000): void {
    this.#relayTimer = setInterval(() => void this.relayOnce(), intervalMs);
    this.#relayTimer.unref();
  }

  async relayOnce(): Promise<number> {
    if (this.#relaying) return 0;
    this.#relaying = true;
    let sent = 0;
    let leased: string | undefined;
    try {
      for (let i = 0; i < RELAY_BATCH; i++) {
        const now = new Date();
        const doc = await this.#outbox.findOneAndUpdate(
          { leaseUntil: { $lte: now } },
          { $set: { leaseUntil: new Date(now.getTime() + RELAY_LEASE_MS) } },
          { sort: { createdAt: 1 }, returnDocument: 'after' },
        );
        if (!doc) break;
        leased = doc._id;
        await this.#js.publish(doc.subject, JSON.stringify(doc.event), { msgID: doc._id, timeout: PUBLISH_TIMEOUT_MS });
        await this.#outbox.deleteOne({ _id: doc._id });
        leased = undefined;
        sent++;
      }
    } catch (error) {
      this.#log.debug({ err: error }, 'audit outbox relay paused');
      // Give the lease back, so the next round retries the event rather than waiting out the lease
      // (the lease only keeps instances from sending one event at once; a crash still ends it).
      if (leased !== undefined) await this.#outbox.updateOne({ _id: leased }, { $set: { leaseUntil: new Date(0) } }).catch(() => undefined);
    } finally {
      this.#relaying = false;
    }
    return sent;
  }

  /** Waits for in-flight publishes (each ends acked or stored in the outbox). */
  async flush(): Promise<void> {
    clearInterval(this.#relayTimer);
    await Promise.allSettled([...this.#pending]);
  }
}
