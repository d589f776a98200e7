// JetStream publishes whose acks come back on one subscription of this process. The client's own
// `js.publish` is a request per message: a reply token, a timer, and once answered an Error built
// only to be thrown away (nats-core 3.4, `RequestOne.cancel`), 3 % of token-service's CPU in the
// refresh scenario (docs/performance.md). Here an ack is a map lookup, and one timer serves every
// publish in flight.
//
// An ack settles an audit event for good (it is then in neither the outbox nor anywhere else if the
// ack lied), so a reply subject must not be guessable: whoever sees one (every core subscriber of
// the subject sees the reply subject) or may publish into this connection's inbox prefix must not
// be able to answer the next publish. Each reply subject ends in a token of its own, 96 random
// bits, as the client's request mux does with its per-request token.
//
// A publish or subscription the connection's permissions refuse is not matched to a publish here:
// it waits for its timeout (the audit publisher's hedge stores the event in the outbox long before),
// and the refusal shows in the connection's status log (connect.ts).
import { createInbox, headers, type ConnectionOptions, type Msg, type NatsConnection } from '@nats-io/nats-core';
import { randomToken } from '#shared/crypto.ts';

/** What JetStream answers for a stored message (`duplicate`: the Nats-Msg-Id was seen within the stream's window). */
export type PubAck = { stream: string; seq: number; duplicate: boolean };

type Waiting = { subject: string; deadline: number; resolve(ack: PubAck): void; reject(error: Error): void };

const REPLY_TOKEN_BYTES = 12;

export class JetStreamAcks {
  readonly #nc: NatsConnection;
  readonly #timeoutMs: number;
  /** Subscribed on the first publish, so a publisher that never publishes holds no subscription. */
  #inbox: string | undefined;
  /** In publish order, so also in deadline order: every publish gets the same timeout. */
  readonly #waiting = new Map<string, Waiting>();
  #timer: NodeJS.Timeout | undefined;

  constructor(nc: NatsConnection, timeoutMs: number) {
    this.#nc = nc;
    this.#timeoutMs = timeoutMs;
  }

  /** Resolves with JetStream's ack; rejects when the stream refuses the message, none answers, or no ack comes in time. */
  publish(subject: string, data: string, msgId: string): Promise<PubAck> {
    return new Promise((resolve, reject) => {
      const h = headers();
      h.set('Nats-Msg-Id', msgId);
      let reply: string;
      try {
        reply = `${this.#inbox ?? this.#subscribe()}.${randomToken(REPLY_TOKEN_BYTES)}`;
        this.#nc.publish(subject, data, { reply, headers: h });
      } catch (error) {
        return reject(error as Error); // a closed or draining connection
      }
      this.#waiting.set(reply, { subject, deadline: performance.now() + this.#timeoutMs, resolve, reject });
      this.#timer ??= setTimeout(() => this.#expire(), this.#timeoutMs);
    });
  }

  /** The inbox, under the connection's inbox prefix, where its permissions let replies in (deploy/nats.conf). */
  #subscribe(): string {
    const inbox = createInbox((this.#nc as Partial<{ options: ConnectionOptions }>).options?.inboxPrefix);
    this.#nc.subscribe(`${inbox}.*`, { callback: (_error, msg) => msg && this.#answered(msg) });
    void this.#nc.closed().then(() => this.#failAll(new Error('NATS connection closed before JetStream acked the publish')));
    return (this.#inbox = inbox);
  }

  #answered(msg: Msg): void {
    const waiting = this.#waiting.get(msg.subject);
    if (!waiting) return; // answered after its timeout, or not a reply to any publish of ours
    this.#waiting.delete(msg.subject);
    if (this.#waiting.size === 0) this.#stopTimer();
    try {
      waiting.resolve(pubAck(msg, waiting.subject));
    } catch (error) {
      waiting.reject(error as Error);
    }
  }

  /** Rejects the publishes past their deadline, then waits for the oldest one left. */
  #expire(): void {
    this.#timer = undefined;
    const now = performance.now();
    for (const [reply, waiting] of this.#waiting) {
      if (waiting.deadline > now) {
        this.#timer = setTimeout(() => this.#expire(), waiting.deadline - now);
        return;
      }
      this.#waiting.delete(reply);
      waiting.reject(new Error(`no JetStream ack within ${this.#timeoutMs} ms`));
    }
  }

  #failAll(error: Error): void {
    this.#stopTimer();
    for (const waiting of this.#waiting.values()) waiting.reject(error);
    this.#waiting.clear();
  }

  #stopTimer(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }
}

/** The ack in a reply, or why there is none: no stream listens on the subject (a 503 status), or the stream's error. */
function pubAck(msg: Msg, subject: string): PubAck {
  if (msg.data.length === 0) {
    throw new Error(msg.headers?.code === 503 ? `no JetStream stream takes ${subject} (no responders)` : `empty JetStream reply for ${subject}`);
  }
  const reply = msg.json<{ stream?: unknown; seq?: unknown; duplicate?: unknown; error?: { description?: unknown } }>();
  if (reply.error) throw new Error(`JetStream refused the message: ${String(reply.error.description)}`);
  if (typeof reply.stream !== 'string' || reply.stream === '' || typeof reply.seq !== 'number') throw new Error('not a JetStream ack');
  return { stream: reply.stream, seq: reply.seq, duplicate: reply.duplicate === true };
}
