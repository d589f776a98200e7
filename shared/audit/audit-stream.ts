import { jetstreamManager } from '@nats-io/jetstream';
import { nanos, type NatsConnection } from '@nats-io/nats-core';
import { AUDIT_STREAM, Subjects } from '#shared/nats/subjects.ts';
import { ensureStream } from '#shared/nats/ensure-stream.ts';

const DAY_MS = 86_400_000;
/**
 * How long JetStream remembers a Nats-Msg-Id. The outbox relay re-sends an event whose publish
 * was not acked (but may have landed) within seconds of JetStream taking publishes again (a relay
 * round every 2 s, a relay lease of 15 s, about 1,000 events a second); ten minutes leaves a wide
 * margin, so a re-send is recognised as the duplicate it is.
 */
export const DUPLICATE_WINDOW_MS = 10 * 60_000;

export type AuditStreamSettings = { retentionDays: number; replicas?: number };

/**
 * Creates the OAUTH_AUDIT stream if missing, or brings its retention, duplicate window and number
 * of replicas in line with the settings (JetStream changes the replicas of a clustered stream in place).
 */
export async function ensureAuditStream(nc: NatsConnection, settings: number | AuditStreamSettings): Promise<void> {
  const { retentionDays, replicas = 1 } = typeof settings === 'number' ? { retentionDays: settings } : settings;
  const jsm = await jetstreamManager(nc);
  const wanted = { max_age: nanos(retentionDays * DAY_MS), duplicate_window: nanos(DUPLICATE_WINDOW_MS), num_replicas: replicas };
  await ensureStream(jsm, AUDIT_STREAM, wanted, { subjects: [Subjects.auditAll] });
}
