// Where the suite's NATS and database are (scripts/test.ts sets OAUTH_TEST_*), for every test: those
// that start a system (test/helpers/system.ts) and those of one store or shared module. Only tests
// import this.
import { MongoClient, type Db } from 'mongodb';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { randomToken } from '#shared/crypto.ts';

export const NATS_URL = process.env.OAUTH_TEST_NATS_URL ?? process.env.NATS_URL ?? 'nats://127.0.0.1:4222';
const MONGO_BASE = process.env.OAUTH_TEST_MONGODB_URI ?? process.env.MONGODB_URI ?? 'mongodb://127.0.0.1:27017/oauth';

/** A MongoDB URI naming a database of its own (same server as the suite's). */
export function uniqueMongoUri(label: string): string {
  const url = new URL(MONGO_BASE);
  url.pathname = `/t_${label.replace(/[^a-z0-9]/gi, '').slice(0, 20)}_${randomToken(6).replace(/[^a-z0-9]/gi, '')}`;
  return url.toString();
}

/** A database of its own and a NATS connection on the suite's servers; `close` drops the database. */
export type SuiteConnections = { db: Db; nc: NatsConnection; close(): Promise<void> };

export async function suiteConnections(label: string): Promise<SuiteConnections> {
  const client = await MongoClient.connect(uniqueMongoUri(label));
  const nc = await connect({ servers: NATS_URL });
  const db = client.db();
  return {
    db, nc,
    async close() {
      await nc.close();
      await db.dropDatabase();
      await client.close();
    },
  };
}
