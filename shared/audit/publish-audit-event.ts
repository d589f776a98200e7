// Publishes audit events to JetStream with an ack and the event id as Nats-Msg-Id. A publish that
// is not acked is written to the outbox and re-sent by the relay, so no event is lost while NATS
// restarts, and JetStream's duplicate window drops the copy if the first publish did land.
// The events of one turn of the event loop are published together.
//
// `emit` settles once the event is safe: acked by JetStream, or stored in the outbox. A request
// answers only after its events have settled, so no client holds a token whose event could still
// die with the process (a crash between the answer and the ack). That costs an answer one
// JetStream ack (about a millisecond); an event not acked within HEDGE_MS is stored in the outbox
// as well, while its publish goes on (the duplicate window drops the copy), so the wait is
// HEDGE_MS and one outbox insert (at most DB_TIMEOUT_MS). Where that insert fails, the emit waits
// for the ack after all, or for the publish to fail and a second insert. With both JetStream and
// the database away, an emit settles once that one failed too: the event is lost and logged as
// such (the request's own writes fail then too).
//
// While JetStream is away nothing waits for a publish timeout per event: the first publish that
// is not acked opens a circuit breaker, and for a short while (or while the NATS link is down)
// events go straight to the outbox. Then one event at a time probes JetStream, and the relay's
// acked batches close the breaker too. Outbox writes arriving together go out as one insert.
import { jetstream } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/nats-core';
import { AsyncResource } from 'node:async_hooks';
import type { Db } from 'mongodb';
import type { Logger } from '#shared/logger.ts';
import { natsReady } from '#shared/nats/connect.ts';
import { JetStreamAcks } from '#shared/nats/jetstream-acks.ts';
import { randomToken } from '#shared/crypto.ts';
import { UniqueInserts, type WriteObserver } from '#shared/unique-inserts.ts';
import { auditSubject, cloudEvent, type AuditData, type AuditEventType, type CloudEvent, type Once } from './cloud-event.ts';
import { AUDIT_OUTBOX, OutboxRelay, outboxDoc, type OutboxDoc, type RelayOptions } from './outbox-relay.ts';

export { AUDIT_OUTBOX, outboxDoc, type OutboxDoc };

export type Audit = {
  /**
   * Settles (never rejects) once the event is in JetStream or the outbox: await it before answering.
   * `once`: for an event that may be sent again (cloud-event.ts), so that one copy is kept.
   */
  emit(type: AuditEventType, subject: string, data: AuditData, once?: Once): Promise<void>;
};

export type AuditPublisherOptions = RelayOptions & {
  /** How long events go straight to the outbox after a publish that was not acked. */
  breakerOpenMs?: number;
  /** How long an emit waits for JetStream's ack before it stores the event in the outbox too. */
  hedgeMs?: number;
  /**
   * Publish each event as it is emitted rather than at the end of the turn: for a process that
   * may exit at once after an emit (the CLI, when the reader of its output goes away).
   */
  publishAtOnce?: boolean;
  /** Told of each outbox insert command (metrics). */
  observeOutboxWrites?: WriteObserver;
  /** Told how long each acked publish waited for its ack (metrics). */
  observeAck?: (seconds: number) => void;
};

const PUBLISH_TIMEOUT_MS = 3000;
const BREAKER_OPEN_MS = 2000;
/** Far above a healthy ack (about a millisecond, tens under heavy load), far below a leader election. */
const HEDGE_MS = 250;

type Queued = { subject: string; event: CloudEvent; settle(): void };

export class AuditPublisher implements Audit {
  readonly #nc: NatsConnection;
  readonly #acks: JetStreamAcks;
  readonly #outbox: UniqueInserts<OutboxDoc>;
  readonly #relay: OutboxRelay;
  readonly #log: Logger;
  readonly #source: string;
  readonly #breakerOpenMs: number;
  readonly #hedgeMs: number;
  readonly #publishTimeoutMs: number;
  readonly #pending = new Set<Promise<void>>();
  /** Emitted, to be published at the end of this turn of the event loop (#publishQueued). */
  readonly #queued: Queued[] = [];
  #queuedTurn: NodeJS.Immediate | undefined;
  readonly #publishAtOnce: boolean;
  readonly #observeAck: ((seconds: number) => void) | undefined;
  /** #publishQueued in the context this publisher was made in, not in the first emitting request's (traces). */
  readonly #publishQueuedOutsideRequests = AsyncResource.bind(() => this.#publishQueued());
  #relayTimer: NodeJS.Timeout | undefined;
  #round: Promise<number> | undefined;
  /** Until when events skip JetStream (0: the breaker is closed). */
  #openUntil = 0;
  /** A publish is testing JetStream after the breaker opened: the others keep to the outbox meanwhile. */
  #probing = false;

  constructor(nc: NatsConnection, db: Db, log: Logger, source: string, options: AuditPublisherOptions = {}) {
    this.#nc = nc;
    this.#publishTimeoutMs = options.publishTimeoutMs ?? PUBLISH_TIMEOUT_MS;
    this.#acks = new JetStreamAcks(nc, this.#publishTimeoutMs);
    this.#outbox = new UniqueInserts<OutboxDoc>(db, AUDIT_OUTBOX, { maxBatch: 500, observe: options.observeOutboxWrites });
    this.#log = log;
    this.#source = source;
    this.#breakerOpenMs = options.breakerOpenMs ?? BREAKER_OPEN_MS;
    this.#hedgeMs = options.hedgeMs ?? HEDGE_MS;
    this.#publishAtOnce = options.publishAtOnce ?? false;
    this.#observeAck = options.observeAck;
    const hooks = { onAcked: () => this.#closeBreaker(), onFailed: () => this.#openBreaker() };
    // The relay publishes in batches, off the hot path: the client's own acked publish is fine there.
    const js = jetstream(nc, { timeout: this.#publishTimeoutMs });
    this.#relay = new OutboxRelay(js, db, log, `${source}#${randomToken(6)}`, hooks, { ...options, publishTimeoutMs: this.#publishTimeoutMs });
  }

  emit(type: AuditEventType, subject: string, data: AuditData, once?: Once): Promise<void> {
    const event = cloudEvent(type, this.#source, subject, data, once);
    return new Promise((settle) => {
      this.#queued.push({ subject: auditSubject(type), event, settle });
      if (this.#publishAtOnce) this.#publishQueued();
      else this.#queuedTurn ??= setImmediate(this.#publishQueuedOutsideRequests);
    });
  }

  /**
   * Publishes the events emitted since the last turn of the event loop. Published in one go, they
   * leave in one socket write (the NATS client sends what was queued in one synchronous run
   * together), where each request's events used to take a write of their own.
   */
  #publishQueued(): void {
    this.#queuedTurn = undefined;
    for (const queued of this.#queued.splice(0)) {
      const task = this.#publishOrStore(queued).finally(() => this.#pending.delete(task));
      this.#pending.add(task);
    }
  }

  /** True while events skip JetStream and go straight to the outbox. */
  get breakerOpen(): boolean {
    return this.#openUntil !== 0;
  }

  async #publishOrStore({ subject, event, settle }: Queued): Promise<void> {
    const probe = this.#mayPublish();
    if (probe === undefined) {
      await this.#store(subject, event);
      return settle();
    }
    // Past hedgeMs JetStream is in trouble (a leader election, say): the event goes to the outbox
    // now, so its request can answer, and the following events go there straight (the breaker).
    // The hedge looks one turn later: after the event loop stalled, the timer runs before the ack
    // waiting in the socket is read, and an event acked meanwhile needs no outbox.
    let answered = false;
    let stored: Promise<boolean> | undefined;
    const hedge = setTimeout(() => setImmediate(() => {
      if (answered) return;
      this.#openBreaker();
      stored = this.#store(subject, event);
      // Not stored: the emit waits for the ack, or for the outbox write after the publish failed.
      void stored.then((kept) => { if (kept) settle(); });
    }), this.#hedgeMs);
    const sent = performance.now();
    try {
      await this.#acks.publish(subject, JSON.stringify(event), event.id);
      answered = true;
      this.#observeAck?.((performance.now() - sent) / 1000);
      this.#closeBreaker();
      settle();
    } catch (error) {
      answered = true;
      this.#openBreaker();
      // Stored now unless the hedge did; stored again if the hedge's write failed.
      stored = (stored ?? Promise.resolve(false)).then((kept) => kept || this.#store(subject, event));
      this.#log.warn({ err: error, eventId: event.id, type: event.type }, 'audit publish not acked; event kept in the outbox');
      await stored;
      settle();
    } finally {
      clearTimeout(hedge);
      if (probe) this.#probing = false;
    }
    await stored;
  }

  /** undefined: go to the outbox; false: publish; true: publish as the one probe of a half-open breaker. */
  #mayPublish(): boolean | undefined {
    if (!natsReady(this.#nc)) {
      this.#openBreaker();
      return undefined;
    }
    if (this.#openUntil === 0) return false;
    if (Date.now() < this.#openUntil || this.#probing) return undefined;
    this.#probing = true;
    return true;
  }

  #openBreaker(): void {
    this.#openUntil = Date.now() + this.#breakerOpenMs;
  }

  #closeBreaker(): void {
    this.#openUntil = 0;
  }

  /** True once the event is in the outbox; false (logged) when the database did not take it either. */
  async #store(subject: string, event: CloudEvent): Promise<boolean> {
    try {
      // false: the event is there already (stored twice by a retried write); nothing to do.
      await this.#outbox.insert(outboxDoc(subject, event));
      return true;
    } catch (storeError) {
      this.#log.error({ err: storeError, eventId: event.id, type: event.type }, 'audit event lost: neither NATS nor the outbox took it');
      return false;
    }
  }

  /** Re-sends outbox events every `intervalMs`; instances take turns through a lease. */
  startRelay(intervalMs = 2000): void {
    this.#relayTimer = setInterval(() => void this.relayOnce(), intervalMs);
    this.#relayTimer.unref();
  }

  /** One relay round (none if one is running): the number of events sent. */
  async relayOnce(): Promise<number> {
    if (this.#round) return 0;
    this.#round = this.#relay.round();
    try {
      return await this.#round;
    } finally {
      this.#round = undefined;
    }
  }

  /** The outbox's size and the age of its oldest event (0 when empty), for metrics. */
  backlog(): Promise<{ depth: number; oldestAgeSeconds: number }> {
    return this.#relay.backlog();
  }

  /** Stops the relay and waits for in-flight publishes (each ends acked or stored in the outbox). */
  async flush(): Promise<void> {
    clearInterval(this.#relayTimer);
    clearImmediate(this.#queuedTurn);
    this.#publishQueued();
    await Promise.allSettled([...this.#pending, this.#round]);
  }
}
