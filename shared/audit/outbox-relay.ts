// Re-sends the audit events waiting in the outbox. Built for FerretDB as much as for MongoDB: on
// FerretDB 1.24 (SQLite) a filtered or sorted find, and any delete, scans the whole collection
// (about 0.1 ms a document), while an unfiltered, unsorted find with a limit reads only what it
// returns. So a round reads a batch with `find({}).limit(n)` (oldest first in practice: storage
// order; order does not matter, each event carries its time), publishes the whole batch at once
// with acks, and deletes what was acked with one `deleteMany`: one scan per batch, never one per event.
//
// Several instances relay the same collection. A re-send is harmless (JetStream drops an event
// whose Nats-Msg-Id it saw within the duplicate window), but double work is not free, so a relay
// works only while it holds the current lease slot: a unique `_id` per slot in `audit_relay_leases`,
// which one insert wins (atomic on FerretDB as on MongoDB). A relay that dies loses at most one slot.
import type { Collection, Db } from 'mongodb';
import type { JetStreamClient } from '@nats-io/jetstream';
import type { Logger } from '#shared/logger.ts';
import type { CloudEvent } from './cloud-event.ts';

export const AUDIT_OUTBOX = 'audit_outbox';
export const AUDIT_RELAY_LEASES = 'audit_relay_leases';

/**
 * An audit event whose publish was not acked; `_id` is the event id (its Nats-Msg-Id). The event
 * is kept as the JSON that is published: one string field reads back (and is skipped by a scan)
 * much faster on FerretDB than a nested document, and the relay sends it as it is. Outboxes
 * written before kept the event as a document (`event`); the relay sends those too.
 */
export type OutboxDoc = { _id: string; subject: string; payload: string; createdAt: Date };
type StoredOutboxDoc = OutboxDoc | (Omit<OutboxDoc, 'payload'> & { payload?: undefined; event: CloudEvent });
type LeaseDoc = { _id: string; owner: string; createdAt: Date };

export const outboxDoc = (subject: string, event: CloudEvent): OutboxDoc => ({ _id: event.id, subject, payload: JSON.stringify(event), createdAt: new Date() });

export type RelayOptions = {
  /** Events read, published and deleted together. */
  batchSize?: number;
  /** Length of one lease slot. */
  leaseMs?: number;
  publishTimeoutMs?: number;
};

export type RelayHooks = {
  /** A batch was acked: JetStream takes publishes. */
  onAcked(): void;
  /** A publish was not acked: JetStream is away. */
  onFailed(): void;
};

const DUPLICATE_KEY = 11000;
/** Batches read with one find: a find costs little more for more documents, a delete much more for a longer `$in`. */
const WINDOW_BATCHES = 5;

export class OutboxRelay {
  readonly #js: JetStreamClient;
  readonly #outbox: Collection<StoredOutboxDoc>;
  readonly #leases: Collection<LeaseDoc>;
  readonly #log: Logger;
  readonly #hooks: RelayHooks;
  readonly #owner: string;
  readonly #batchSize: number;
  readonly #leaseMs: number;
  readonly #publishTimeoutMs: number;
  /** The lease slot this instance won, if any. */
  #slot = -1;

  constructor(js: JetStreamClient, db: Db, log: Logger, owner: string, hooks: RelayHooks, options: RelayOptions = {}) {
    this.#js = js;
    this.#outbox = db.collection<StoredOutboxDoc>(AUDIT_OUTBOX);
    this.#leases = db.collection<LeaseDoc>(AUDIT_RELAY_LEASES);
    this.#log = log;
    this.#owner = owner;
    this.#hooks = hooks;
    this.#batchSize = options.batchSize ?? 1000;
    this.#leaseMs = options.leaseMs ?? 15_000;
    this.#publishTimeoutMs = options.publishTimeoutMs ?? 3000;
  }

  /**
   * One relay round: while this instance holds the lease, relay window after window until the
   * outbox is empty, a publish is not acked, or the slot ends. Returns the number of events sent.
   */
  async round(): Promise<number> {
    let sent = 0;
    try {
      // Cheap on FerretDB (limit pushed down): no lease is taken while there is nothing to relay.
      if ((await this.#outbox.find({}).limit(1).toArray()).length === 0) return 0;
      if (!(await this.#holdsLease())) return 0;
      const slot = this.#slot;
      for (;;) {
        const window = await this.#outbox.find({}).limit(this.#batchSize * WINDOW_BATCHES).toArray();
        const { acked, complete } = await this.#relayWindow(window);
        sent += acked;
        if (!complete || window.length < this.#batchSize * WINDOW_BATCHES || this.#currentSlot() !== slot) break;
      }
    } catch (error) {
      this.#log.debug({ err: error }, 'audit outbox relay paused');
    }
    return sent;
  }

  /**
   * Publishes a window batch by batch, each batch's delete running while the next batch is
   * published (NATS and the database work at once; one delete at a time, as SQLite wants).
   */
  async #relayWindow(window: StoredOutboxDoc[]): Promise<{ acked: number; complete: boolean }> {
    let acked = 0;
    let deleting: Promise<unknown> = Promise.resolve();
    try {
      for (let i = 0; i < window.length; i += this.#batchSize) {
        const batch = window.slice(i, i + this.#batchSize);
        const ids = await this.#publish(batch);
        await deleting;
        if (ids.length > 0) deleting = this.#outbox.deleteMany({ _id: { $in: ids } });
        acked += ids.length;
        if (ids.length < batch.length) return { acked, complete: false };
      }
      return { acked, complete: true };
    } finally {
      await deleting;
    }
  }

  /** Publishes every event of the batch at once; returns the ids JetStream acked (a duplicate ack counts). */
  async #publish(batch: StoredOutboxDoc[]): Promise<string[]> {
    const results = await Promise.allSettled(batch.map((doc) =>
      this.#js.publish(doc.subject, doc.payload ?? JSON.stringify(doc.event), { msgID: doc._id, timeout: this.#publishTimeoutMs })));
    const acked = batch.filter((_, i) => results[i]!.status === 'fulfilled').map((doc) => doc._id);
    if (acked.length > 0) this.#hooks.onAcked();
    if (acked.length < batch.length) {
      this.#hooks.onFailed();
      const failure = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
      this.#log.debug({ err: failure.reason, notAcked: batch.length - acked.length }, 'audit outbox relay: JetStream did not ack');
    }
    return acked;
  }

  /**
   * The outbox's backlog, for metrics (read at scrape time, never on a request): its size (the
   * estimated count, a metadata read on MongoDB) and the age of the event at its head, the first
   * in storage order, which is the oldest in practice (0 when empty): how far the relay is behind.
   */
  async backlog(now = Date.now()): Promise<{ depth: number; oldestAgeSeconds: number }> {
    const [depth, [head]] = await Promise.all([
      this.#outbox.estimatedDocumentCount({ maxTimeMS: 2000 }),
      this.#outbox.find({}, { projection: { createdAt: 1 } }).limit(1).toArray(),
    ]);
    const oldestAgeSeconds = head ? Math.max(0, (now - head.createdAt.getTime()) / 1000) : 0;
    return { depth, oldestAgeSeconds };
  }

  #currentSlot(): number {
    return Math.floor(Date.now() / this.#leaseMs);
  }

  /** True while this instance holds the current slot; tries to win it when nobody has. */
  async #holdsLease(): Promise<boolean> {
    const slot = this.#currentSlot();
    if (this.#slot === slot) return true;
    const id = leaseId(slot);
    try {
      await this.#leases.insertOne({ _id: id, owner: this.#owner, createdAt: new Date() });
    } catch (error) {
      if ((error as { code?: number }).code === DUPLICATE_KEY) return false;
      throw error;
    }
    this.#slot = slot;
    // Slots are never reused: the winner removes the spent ones (a handful of tiny documents).
    await this.#leases.deleteMany({ _id: { $lt: id } }).catch(() => undefined);
    return true;
  }
}

/** Zero-padded, so the ids of slots sort as the slots do. */
const leaseId = (slot: number): string => `slot:${String(slot).padStart(16, '0')}`;
