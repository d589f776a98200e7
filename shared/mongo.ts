// MongoDB connection and idempotent index creation, kept within what both MongoDB 7 and
// FerretDB v1.24 support (FerretDB has no TTL or partial indexes: a sweep cleans up there).
import { MongoClient, MongoServerError, type Collection, type Db, type Document, type IndexSpecification, type CreateIndexesOptions } from 'mongodb';
import type { CommonConfig } from '#shared/config.ts';
import type { Logger } from '#shared/logger.ts';

export type Mongo = { client: MongoClient; db: Db };

export async function connectMongo(config: CommonConfig, appName: string): Promise<Mongo> {
  const client = new MongoClient(config.MONGODB_URI, {
    appName,
    serverSelectionTimeoutMS: config.DB_TIMEOUT_MS,
    connectTimeoutMS: config.DB_TIMEOUT_MS,
    socketTimeoutMS: config.DB_TIMEOUT_MS * 2,
    maxPoolSize: 50,
    retryWrites: false,
  });
  await client.connect();
  return { client, db: client.db() };
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
