// The revocations collection: what must be refused from now on (access tokens by jti, whole
// grants, an owner's grants to a client up to an instant). Written by token-service; loaded by
// every validation-service and token-service instance into its in-memory RevocationSet at start,
// and kept current there by the oauth.revocation.recorded broadcast.
import type { CollectionOptions, Db } from 'mongodb';
import { ensureIndexes, isDuplicateKey } from '#shared/mongo.ts';
import type { NatsConnection } from '@nats-io/nats-core';
import { RevocationRecordedSchema, type RevocationRecorded } from '#shared/contracts/revocation-recorded.ts';
import { checker } from '#shared/contracts/checker.ts';
import { parseJson } from '#shared/nats/add-endpoint.ts';
import { Subjects } from '#shared/nats/subjects.ts';
import type { Clock } from '#shared/clock.ts';
import type { Logger } from '#shared/logger.ts';
import type { ServiceMetrics } from '#shared/metrics.ts';
import { RevocationSet, type RevocationKind, type RevocationRecord } from '#shared/grants/revocation-set.ts';
import { MAX_ACCESS_TOKEN_TTL_SECONDS, MAX_REFRESH_TOKEN_TTL_SECONDS } from '#shared/reference-data/clients.ts';

export type { RevocationKind, RevocationRecord };

export type RevocationDoc = {
  _id: string; // `${kind}:${key}`
  kind: RevocationKind;
  /** jti, grant id, or `${sub} ${client_id}` for subject_client. */
  key: string;
  /** Tokens of this key issued at or before this instant are revoked. */
  issuedBefore: Date;
  /** When every token the record covers has expired; the record may then go. */
  expiresAt: Date;
  /** The writer's clock at the first write (for people; resyncs never compare it). */
  createdAt: Date;
  /**
   * The database's clock when the record was last written or widened ($currentDate): what resyncs
   * compare, so no instance's clock skew can hide a record from another. Absent only on records of
   * versions before it, which stampLegacyRevocations stamps.
   */
  changedAt?: Date;
};


/**
 * Written with majority acknowledgement and read from the primary at read concern majority: on a
 * replica set no instance loads a revocation a failover could still roll back, nor reads from a
 * secondary that has not caught up (a revoked token accepted).
 */
export const REVOCATION_CONSISTENCY: CollectionOptions = { writeConcern: { w: 'majority' }, readConcern: { level: 'majority' }, readPreference: 'primary' };

export const revocationsCollection = (db: Db) => db.collection<RevocationDoc>('revocations', REVOCATION_CONSISTENCY);

export const revocationId = (kind: RevocationKind, key: string) => `${kind}:${key}`;
export const subjectClientKey = (sub: string, clientId: string) => `${sub} ${clientId}`;

export const toRevocationRecord = (doc: Pick<RevocationDoc, 'kind' | 'key' | 'issuedBefore' | 'expiresAt'> & { changedAt?: Date }): RevocationRecord => ({
  kind: doc.kind,
  key: doc.key,
  issuedBeforeMs: doc.issuedBefore.getTime(),
  expiresAtMs: doc.expiresAt.getTime(),
  ...(doc.changedAt ? { changedAtMs: doc.changedAt.getTime() } : {}),
});

const revocationProjection = { _id: 0, kind: 1, key: 1, issuedBefore: 1, expiresAt: 1, changedAt: 1 } as const;

export type RevocationWrite = { kind: RevocationKind; key: string; issuedBefore: Date; expiresAt: Date };

/**
 * Records a revocation, or widens the existing one (the later instants win), stamping it with the
 * database's clock. An upsert, retried once when a concurrent first write of the same key wins the
 * insert (FerretDB reports that as a duplicate key): the retry then finds the record and widens it.
 */
export async function writeRevocation(db: Db, revocation: RevocationWrite, now: Date): Promise<void> {
  const _id = revocationId(revocation.kind, revocation.key);
  const update = {
    $setOnInsert: { kind: revocation.kind, key: revocation.key, createdAt: now },
    $max: { issuedBefore: revocation.issuedBefore, expiresAt: revocation.expiresAt },
    $currentDate: { changedAt: true },
  } as const;
  const collection = revocationsCollection(db);
  try {
    await collection.updateOne({ _id }, update, { upsert: true });
  } catch (error) {
    if (!isDuplicateKey(error)) throw error;
    await collection.updateOne({ _id }, update, { upsert: true });
  }
}

/** The resync's index, and a database stamp on records written before stamps existed (so resyncs see them once more). */
export async function prepareRevocations(db: Db, log: Logger): Promise<void> {
  const collection = revocationsCollection(db);
  await ensureIndexes(collection, [{ key: { changedAt: 1 } }], log);
  await collection.updateMany({ changedAt: { $exists: false } }, { $currentDate: { changedAt: true } });
}

/** Every revocation that still covers a token that may be presented (expired ones too, within `graceMs`). */
export async function activeRevocations(db: Db, now: Date, graceMs: number): Promise<RevocationRecord[]> {
  const docs = await revocationsCollection(db).find({ expiresAt: { $gt: new Date(now.getTime() - graceMs) } }, { projection: revocationProjection }).toArray();
  return docs.map(toRevocationRecord);
}

/**
 * Revocations written or widened after `since`, an instant in the database's clock (a resync that
 * covers broadcasts an instance missed): every write stamps `changedAt` with the database's time.
 */
export async function revocationsChangedSince(db: Db, since: Date): Promise<RevocationRecord[]> {
  const docs = await revocationsCollection(db).find({ changedAt: { $gt: since } }, { projection: revocationProjection }).toArray();
  return docs.map(toRevocationRecord);
}

/** The wire form of a revocation (oauth.revocation.recorded), as every writer broadcasts it. */
export const toRevocationRecorded = (r: RevocationWrite): RevocationRecorded => ({
  kind: r.kind, key: r.key,
  issued_before: Math.floor(r.issuedBefore.getTime() / 1000), issued_before_ms: r.issuedBefore.getTime(), expires_at: Math.ceil(r.expiresAt.getTime() / 1000),
});

const revocationRecorded = checker(RevocationRecordedSchema);

/** The record a broadcast carries; without milliseconds, the whole second counts (the strict side). */
const fromBroadcast = (event: RevocationRecorded): RevocationRecord => ({
  kind: event.kind, key: event.key, issuedBeforeMs: event.issued_before_ms ?? event.issued_before * 1000 + 999, expiresAtMs: event.expires_at * 1000,
});

/** Every revocation broadcast (no queue group: every instance hears every one); malformed ones are logged and skipped. */
export function subscribeRevocations(nc: NatsConnection, log: Logger, onRecord: (record: RevocationRecord) => void): { unsubscribe(): void } {
  return nc.subscribe(Subjects.revocationRecorded, {
    callback: (error, msg) => {
      // Refused (permissions) or ended: a RevocationSet still learns them at its resync; authorize-service's consent reads last their full age.
      if (error) return void log.warn({ err: error }, 'revocation broadcasts stopped');
      const event = revocationRecorded.parse(parseJson(msg.data));
      if (!event) return void log.warn('ignored a malformed revocation broadcast');
      onRecord(fromBroadcast(event));
    },
  });
}

/**
 * How far past this instance's clock a broadcast cut-off (`issued_before`) may lie. Writers stamp it
 * with their own clock or the database's, which NTP keeps far closer than this. A later one is cut
 * to it, so a forged broadcast cannot refuse tokens issued more than this after it arrived. A cut
 * starts a resync at once: a writer stores its record before it broadcasts it, so a real one whose
 * writer's clock is further ahead applies in full a database read later.
 */
export const BROADCAST_CUT_OFF_AHEAD_MS = 60_000;

/**
 * How long past this instance's clock a broadcast record may be kept (`expires_at`): the longest a
 * token it covers can live (a refresh token of the longest lifetime, begun now, then an access token
 * of the longest), with a day to spare for margins and clocks. A later one is cut to it, so a forged
 * broadcast is not kept forever; a real one is read again from the database like a cut cut-off.
 */
export const BROADCAST_LIFETIME_MAX_MS = (MAX_REFRESH_TOKEN_TTL_SECONDS + MAX_ACCESS_TOKEN_TTL_SECONDS + 86_400) * 1000;

/** A broadcast record within BROADCAST_CUT_OFF_AHEAD_MS and BROADCAST_LIFETIME_MAX_MS of `nowMs` (the same object when it was). */
export function boundedBroadcast(record: RevocationRecord, nowMs: number): RevocationRecord {
  const issuedBeforeMs = Math.min(record.issuedBeforeMs, nowMs + BROADCAST_CUT_OFF_AHEAD_MS);
  const expiresAtMs = Math.min(record.expiresAtMs, nowMs + BROADCAST_LIFETIME_MAX_MS);
  return issuedBeforeMs === record.issuedBeforeMs && expiresAtMs === record.expiresAtMs ? record : { ...record, issuedBeforeMs, expiresAtMs };
}

/** A RevocationSet fed by this database and the broadcast, started: subscribed first, then loaded. */
export async function startRevocationSet(
  deps: { nc: NatsConnection; db: Db; clock: Clock; log: Logger; resyncMs: number; metrics?: Pick<ServiceMetrics, 'gauge'> },
): Promise<RevocationSet> {
  const { nc, db, log } = deps;
  const revocations = new RevocationSet({
    clock: deps.clock, log, resyncMs: deps.resyncMs,
    subscribe: (onRecord) => subscribeRevocations(nc, log, (record) => {
      const bounded = boundedBroadcast(record, deps.clock.now().getTime());
      onRecord(bounded);
      if (bounded !== record) void revocations.resync();
    }),
    loadActive: (now, graceMs) => activeRevocations(db, now, graceMs),
    loadChangedSince: (since) => revocationsChangedSince(db, since),
  });
  await revocations.start();
  deps.metrics?.gauge('revocation_set_entries', 'Revocations held in memory (jti, grant, subject, client, subject-client entries)', () => revocations.size);
  return revocations;
}
