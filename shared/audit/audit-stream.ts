import { jetstreamManager } from '@nats-io/jetstream';
import { nanos, type NatsConnection } from '@nats-io/nats-core';
import { AUDIT_STREAM, Subjects } from '#shared/nats/subjects.ts';

const DAY_MS = 86_400_000;
// Long enough that an outbox re-send after a NATS restart is still recognised as a duplicate.
const DUPLICATE_WINDOW_MS = 10 * 60_000;

/** Creates the OAUTH_AUDIT stream if missing, or brings its retention in line with the setting. */
export async function ensureAuditStream(nc: NatsConnection, retentionDays: number): Promise<void> {
  const jsm = await jetstreamManager(nc);
  const config = { name: AUDIT_STREAM, subjects: [Subjects.auditAll], max_age: nanos(retentionDays * DAY_MS), duplicate_window: nanos(DUPLICATE_WINDOW_MS) };
  try {
    const info = await jsm.streams.info(AUDIT_STREAM);
    if (info.config.max_age !== config.max_age || info.config.duplicate_window !== config.duplicate_window) {
      await jsm.streams.update(AUDIT_STREAM, { ...info.config, max_age: config.max_age, duplicate_window: config.duplicate_window });
    }
  } catch (error) {
    if (!/stream not found/i.test((error as Error).message)) throw error;
    try {
      await jsm.streams.add(config);
    } catch (addError) {
      // Another instance created it between our look-up and our add.
      if (!/already in use/i.test((addError as Error).message)) throw addError;
    }
  }
}
