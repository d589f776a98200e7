// client_auth_failures: failed client authentications, locks and resets as insert-only events
// (exact under concurrency on every MongoDB-protocol database, unlike a counter updated in place).
// Written by every edge that authenticates clients (token, revocation, introspection), so a client
// locked at one is locked at all.
import { ObjectId, type Db } from 'mongodb';
import { addSeconds } from '#shared/clock.ts';
import type { Logger } from '#shared/logger.ts';
import { ensureIndexes, expiresAtTtl } from '#shared/mongo.ts';

export const ClientAuthEventKinds = ['failure', 'lock', 'reset'] as const;
export type ClientAuthEventKind = (typeof ClientAuthEventKinds)[number];
export type ClientAuthEvent = { kind: ClientAuthEventKind; createdAt: Date };
type ClientAuthEventDoc = { _id: ObjectId; clientId: string; kind: ClientAuthEventKind; createdAt: Date; expiresAt: Date };

/** Failed client authentications older than this are forgotten. */
export const CLIENT_AUTH_EVENT_TTL_SECONDS = 86_400;

export type ClientAuthEventStore = {
  /** The client's latest events, newest first. */
  recentClientAuthEvents(clientId: string, limit: number, now: Date): Promise<ClientAuthEvent[]>;
  recordClientAuthEvent(clientId: string, kind: ClientAuthEventKind, now: Date): Promise<void>;
};

export async function createClientAuthEventStore(db: Db, log: Logger) {
  const events = db.collection<ClientAuthEventDoc>('client_auth_failures');
  await ensureIndexes(events, [expiresAtTtl, { key: { clientId: 1, createdAt: -1 } }], log);
  return {
    async recentClientAuthEvents(clientId: string, limit: number, now: Date): Promise<ClientAuthEvent[]> {
      const docs = await events.find({ clientId, expiresAt: { $gt: now } }, { projection: { kind: 1, createdAt: 1 } })
        .sort({ createdAt: -1, _id: -1 }).limit(limit).toArray();
      return docs.map((d) => ({ kind: d.kind, createdAt: d.createdAt }));
    },
    async recordClientAuthEvent(clientId: string, kind: ClientAuthEventKind, now: Date): Promise<void> {
      // ObjectIds of one process increase, so events of the same instant keep their order.
      await events.insertOne({ _id: new ObjectId(), clientId, kind, createdAt: now, expiresAt: addSeconds(now, CLIENT_AUTH_EVENT_TTL_SECONDS) });
    },
    async sweepExpired(now: Date) {
      return events.deleteMany({ expiresAt: { $lte: now } });
    },
  } satisfies ClientAuthEventStore & { sweepExpired(now: Date): Promise<{ deletedCount: number }> };
}
