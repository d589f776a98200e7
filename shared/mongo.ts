// MongoDB connection and idempotent index creation, kept within what both MongoDB 7 and
// FerretDB v1.24 support (FerretDB has no TTL or partial indexes: a sweep cleans up there).
import {
  MongoClient, MongoNetworkError, MongoNotConnectedError, MongoServerError, MongoServerSelectionError, MongoTopologyClosedError,
  type Collection, type Db, type Document, type IndexSpecification, type CreateIndexesOptions, type MongoClientOptions,
} from 'mongodb';
import type { CommonConfig } from '#shared/config.ts';
import type { Logger } from '#shared/logger.ts';
import { endSpan, startChildSpan, tracingOn, type Span } from '#shared/tracing.ts';

export type Mongo = { client: MongoClient; db: Db };

export type ConnectOptions = {
  /** Called with the name of every command the driver sends (driver command monitoring, for the benchmark's counts). */
  onCommand?: (commandName: string) => void;
};

export async function connectMongo(config: CommonConfig, appName: string, options: ConnectOptions = {}): Promise<Mongo> {
  const { onCommand } = options;
  const traced = tracingOn();
  const client = new MongoClient(config.MONGODB_URI, { ...mongoClientOptions(config), appName, monitorCommands: onCommand !== undefined || traced });
  if (onCommand) client.on('commandStarted', (event) => onCommand(event.commandName));
  if (traced) traceCommands(client);
  await client.connect();
  return { client, db: client.db() };
}

/**
 * A client span per database command sent within traced work (driver command monitoring): the
 * command's name, database and collection, never its filter or documents (hashes, sealed state).
 */
function traceCommands(client: MongoClient): void {
  const spans = new Map<string, Span>();
  const key = (event: { connectionId?: unknown; requestId: number }) => `${String(event.connectionId)}#${event.requestId}`;
  client.on('commandStarted', (event) => {
    const target: unknown = event.command[event.commandName];
    const collection = typeof target === 'string' && target.length <= 120 ? target : undefined;
    const span = startChildSpan(collection ? `${event.commandName} ${collection}` : event.commandName, {
      'db.system.name': 'mongodb', 'db.namespace': event.databaseName, 'db.operation.name': event.commandName,
      ...(collection ? { 'db.collection.name': collection } : {}),
    });
    if (span) spans.set(key(event), span);
  });
  const end = (failed: boolean) => (event: { connectionId?: unknown; requestId: number }) => {
    const span = spans.get(key(event));
    if (!span) return;
    spans.delete(key(event));
    endSpan(span, undefined, failed);
  };
  client.on('commandSucceeded', end(false));
  client.on('commandFailed', end(true));
}

/**
 * The driver's settings for MONGODB_URI. A replica set (`replicaSet=`, or any list of hosts) is
 * followed through failovers: retryable writes (a write sent once more, to the new primary, and
 * applied once: the server remembers the first by its transaction number) and reads from the
 * primary, unless the URI says otherwise (its `retryWrites`, `readPreference` and `w` are kept).
 * Against a single server (FerretDB, a standalone mongod) the driver sends no retryable write (it
 * adds a transaction number only where the topology is a replica set or sharded), so
 * `retryWrites=true` costs nothing there. Exactly-once inserts and revocations add majority
 * writes (and revocations majority reads) on their collections.
 */
export function mongoClientOptions(config: Pick<CommonConfig, 'MONGODB_URI' | 'DB_TIMEOUT_MS'>): MongoClientOptions {
  const said = uriOptionNames(config.MONGODB_URI);
  return {
    serverSelectionTimeoutMS: config.DB_TIMEOUT_MS,
    connectTimeoutMS: config.DB_TIMEOUT_MS,
    socketTimeoutMS: config.DB_TIMEOUT_MS * 2,
    maxPoolSize: 50,
    ...(said.has('retrywrites') ? {} : { retryWrites: true }),
    ...(said.has('retryreads') ? {} : { retryReads: true }),
    ...(said.has('readpreference') ? {} : { readPreference: 'primary' as const }),
  };
}

/** The option names a connection string sets, lower-cased (URI options are case-insensitive). */
function uriOptionNames(uri: string): Set<string> {
  const query = uri.split('?')[1] ?? '';
  return new Set(query.split('&').filter(Boolean).map((pair) => decodeURIComponent(pair.split('=')[0]!).toLowerCase()));
}

/** True when the database answers a ping within `timeoutMs` (for /readyz). */
export async function mongoReady(db: Db, timeoutMs: number): Promise<boolean> {
  const timeout = new Promise<false>((resolve) => setTimeout(() => resolve(false), timeoutMs).unref());
  const ping = db.command({ ping: 1 }).then(() => true, () => false);
  return Promise.race([ping, timeout]);
}

export type IndexDefinition = { key: IndexSpecification; options?: CreateIndexesOptions };

const NOT_IMPLEMENTED = 238;

/**
 * Creates indexes if missing. A TTL index the database cannot build (FerretDB) is skipped with a
 * debug line: expiry is enforced in every query, TTL only cleans up, and the sweep does it there.
 */
export async function ensureIndexes<T extends Document>(collection: Collection<T>, indexes: IndexDefinition[], log: Logger): Promise<void> {
  for (const { key, options } of indexes) {
    try {
      await collection.createIndex(key, options ?? {});
    } catch (error) {
      if (error instanceof MongoServerError && error.code === NOT_IMPLEMENTED && options?.expireAfterSeconds !== undefined) {
        log.debug({ collection: collection.collectionName }, 'TTL index not supported by this database; relying on the sweep');
        continue;
      }
      throw error;
    }
  }
}

/** TTL clean-up index on `expiresAt` (documents go when they expire). */
export const expiresAtTtl: IndexDefinition = { key: { expiresAt: 1 }, options: { expireAfterSeconds: 0, name: 'expiresAt_ttl' } };

export const isDuplicateKey = (error: unknown): boolean => error instanceof MongoServerError && error.code === 11000;

/**
 * True for errors that mean the database is not reachable now or did not answer in time (no server
 * to select, a connection refused, reset or timed out), rather than a bug: callers answer
 * temporarily_unavailable (503), never a 500.
 */
export const isDatabaseUnavailable = (error: unknown): boolean =>
  error instanceof MongoNetworkError || error instanceof MongoServerSelectionError
  || error instanceof MongoTopologyClosedError || error instanceof MongoNotConnectedError;
