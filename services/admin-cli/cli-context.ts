// What a command runs against: the database, NATS when the command needs it, and a way to record
// a change (announce it to the services' caches and emit its audit event). A CLI must not hang:
// NATS gets one short connection attempt, and when it is down the change is still made, its audit
// events go to the audit_outbox collection (the services' relay re-sends them), and a warning says so.
import { connect } from '@nats-io/transport-node';
import type { NatsConnection } from '@nats-io/nats-core';
import { pino } from 'pino';
import type { Db } from 'mongodb';
import type { CommonConfig } from '#shared/config.ts';
import type { Logger } from '#shared/logger.ts';
import { connectMongo, type Mongo } from '#shared/mongo.ts';
import { randomToken } from '#shared/crypto.ts';
import { AUDIT_OUTBOX, AuditPublisher, outboxDoc, type OutboxDoc } from '#shared/audit/publish-audit-event.ts';
import { auditSubject, cloudEvent, type AuditData, type AuditEventType } from '#shared/audit/cloud-event.ts';
import { announceReferenceDataChange } from '#shared/reference-data/reference-cache.ts';
import type { ReferenceDataKind } from '#shared/contracts/reference-data-changed.ts';
import { oneLine, type Io } from './output.ts';

export const CLI_NAME = 'oauth-admin';
export const AUDIT_SOURCE = 'urn:oauth:admin-cli';
/** The CLI's NATS user name in deploy/nats.conf, and its inbox prefix. */
export const NATS_INBOX_NAME = 'admin-cli';
const NATS_CONNECT_TIMEOUT_MS = 3000;

/** none: the command reads only; optional: it changes data (NATS for announcements and audit); required: it cannot work without NATS. */
export type NatsNeed = 'none' | 'optional' | 'required';

export type CliContext = {
  config: CommonConfig;
  /** The database (throws for a command declared not to use it). */
  db: Db;
  /** Present when the command asked for NATS and it answered. */
  nc: NatsConnection | undefined;
  io: Io;
  /** Records a change: tells the services' caches to reload `kind` and emits the audit event. */
  changed(kind: ReferenceDataKind | undefined, type: AuditEventType, subject: string, data: AuditData): void;
  close(): Promise<void>;
};

export async function openContext(config: CommonConfig, io: Io, natsNeed: NatsNeed, database = true): Promise<CliContext> {
  if (!database) return natsOnlyContext(config, io, natsNeed);
  const [mongoResult, natsResult] = await Promise.allSettled([
    connectMongo(config, CLI_NAME),
    natsNeed === 'none' ? Promise.resolve(undefined) : connectCliNats(config, natsNeed === 'required'),
  ]);
  const nc = natsResult.status === 'fulfilled' ? natsResult.value : undefined;
  if (mongoResult.status === 'rejected') {
    await nc?.close();
    throw new Error(`cannot reach the database: ${oneLine((mongoResult.reason as Error).message)}`);
  }
  const mongo: Mongo = mongoResult.value;
  const natsFailure = natsResult.status === 'rejected' ? `NATS is unreachable at ${natsServersForDisplay(config.NATS_URL)} (${oneLine((natsResult.reason as Error).message)})` : undefined;
  if (natsFailure && natsNeed === 'required') {
    await mongo.client.close();
    throw new Error(natsFailure);
  }
  // Said once, at the first change, so a refused command still prints only its one line.
  let warnedOffline = false;

  const outbox = mongo.db.collection<OutboxDoc>(AUDIT_OUTBOX);
  // At once: a reader that goes away ends the run before the end of the turn (output.ts).
  const audit = nc ? new AuditPublisher(nc, mongo.db, warningLogger(io), AUDIT_SOURCE, { publishAtOnce: true }) : undefined;
  const outboxWrites = new Set<Promise<unknown>>();

  return {
    config,
    db: mongo.db,
    nc,
    io,
    changed(kind, type, subject, data) {
      if (nc && kind) announceReferenceDataChange(nc, kind);
      if (audit) {
        void audit.emit(type, subject, data); // close() waits for it
        return;
      }
      if (!warnedOffline) {
        warnedOffline = true;
        io.warn(`${natsFailure ?? 'NATS is unreachable'}; the change is saved, its audit event waits in the audit_outbox collection for a service to relay it, and services see the change at their next periodic reload`);
      }
      const event = cloudEvent(type, AUDIT_SOURCE, subject, data);
      const write = outbox.insertOne(outboxDoc(auditSubject(type), event))
        .catch((error: Error) => io.warn(`audit event ${type} lost: neither NATS nor the outbox took it (${oneLine(error.message)})`));
      outboxWrites.add(write);
    },
    async close() {
      // Audit first (each event ends acked or in the outbox), then NATS drained so announcements leave, then the database.
      await audit?.flush();
      await Promise.allSettled([...outboxWrites]);
      if (nc) await nc.drain().catch(() => nc.close());
      await mongo.client.close();
    },
  };
}

async function natsOnlyContext(config: CommonConfig, io: Io, natsNeed: NatsNeed): Promise<CliContext> {
  let nc: NatsConnection | undefined;
  try {
    nc = await connectCliNats(config, natsNeed === 'required');
  } catch (error) {
    throw new Error(`NATS is unreachable at ${natsServersForDisplay(config.NATS_URL)} (${oneLine((error as Error).message)})`);
  }
  return {
    config,
    get db(): Db {
      throw new Error('this command does not use the database');
    },
    nc,
    io,
    changed() {
      throw new Error('this command changes nothing');
    },
    async close() {
      await nc.drain().catch(() => nc.close());
    },
  };
}

/**
 * One connection attempt with a short timeout: a CLI run is short and must not hang. A command
 * that follows a stream (`audit tail`) reconnects without limit once connected, and its ordered
 * consumer resumes where it was.
 */
export function connectCliNats(config: CommonConfig, follow = false): Promise<NatsConnection> {
  return connect({
    servers: config.NATS_URL.split(',').map((s) => s.trim()),
    name: CLI_NAME,
    user: config.NATS_USER,
    pass: config.NATS_PASSWORD,
    timeout: NATS_CONNECT_TIMEOUT_MS,
    waitOnFirstConnect: false,
    reconnect: follow,
    maxReconnectAttempts: follow ? -1 : 0,
    // Replies come to an inbox of the admin CLI's own: deploy/nats.conf lets the admin-cli user read only `_INBOX.admin-cli.>`.
    inboxPrefix: `_INBOX.${NATS_INBOX_NAME}.${randomToken(8)}`,
  });
}

/** The server list without any user information a URL might carry. */
export function natsServersForDisplay(natsUrl: string): string {
  return natsUrl.split(',').map((server) => server.trim().replace(/\/\/[^@/]*@/, '//')).join(',');
}

/** A pino logger that turns the shared modules' warnings into one `oauth-admin: warning: …` line on stderr. */
export function warningLogger(io: Io): Logger {
  return pino({ level: 'warn' }, {
    write(line: string) {
      try {
        const entry = JSON.parse(line) as { msg?: string };
        io.warn(entry.msg ?? 'warning');
      } catch {
        io.warn(line);
      }
    },
  });
}
