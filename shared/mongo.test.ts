// What the driver is told for a replica set, proven on the options objects (FerretDB, the local
// database, cannot run a replica set): nothing here connects.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { MongoClient, MongoServerError, type Db } from 'mongodb';
import { mongoClientOptions } from './mongo.ts';
import { revocationsCollection } from './grants/revocation-feed.ts';
import { EXACTLY_ONCE, UniqueInserts } from './unique-inserts.ts';

const clientFor = (uri: string) => new MongoClient(uri, mongoClientOptions({ MONGODB_URI: uri, DB_TIMEOUT_MS: 5000 }));

describe('MongoDB client options', () => {
  it('a replica set URI: the set, its hosts, retryable writes and reads, primary reads', async () => {
    const client = clientFor('mongodb://db1.internal:27017,db2.internal:27017,db3.internal:27017/oauth?replicaSet=rs0');
    assert.equal(client.options.replicaSet, 'rs0');
    assert.deepEqual(client.options.hosts.map(String), ['db1.internal:27017', 'db2.internal:27017', 'db3.internal:27017']);
    assert.equal(client.options.retryWrites, true);
    assert.equal(client.options.retryReads, true);
    assert.equal(client.options.readPreference.mode, 'primary');
    assert.equal(client.db().databaseName, 'oauth');
    await client.close();
  });

  it('what the URI says wins: retryWrites=false (as for a server that refuses them), a read preference, a write concern', async () => {
    const client = clientFor('mongodb://127.0.0.1:27017/oauth?retryWrites=false&readPreference=primaryPreferred&w=majority');
    assert.equal(client.options.retryWrites, false);
    assert.equal(client.options.readPreference.mode, 'primaryPreferred');
    assert.equal(client.options.writeConcern?.w, 'majority');
    await client.close();
  });

  it('a single server (FerretDB): retryable writes on, which the driver only uses on a replica set or sharded cluster', async () => {
    const options = mongoClientOptions({ MONGODB_URI: 'mongodb://127.0.0.1:27017/oauth', DB_TIMEOUT_MS: 800 });
    assert.equal(options.retryWrites, true);
    assert.equal(options.serverSelectionTimeoutMS, 800);
    assert.equal(options.socketTimeoutMS, 1600);
  });

  it('revocations: majority writes, majority reads from the primary; claims and decisions: majority writes, primary reads', async () => {
    const client = clientFor('mongodb://db1.internal,db2.internal/oauth?replicaSet=rs0&readPreference=nearest');
    const revocations = revocationsCollection(client.db());
    assert.equal(revocations.writeConcern?.w, 'majority');
    assert.equal(revocations.readConcern?.level, 'majority');
    assert.equal(revocations.readPreference?.mode, 'primary', 'even where the URI reads from the nearest member');
    const claims = client.db().collection('grant_claims', EXACTLY_ONCE);
    assert.equal(claims.writeConcern?.w, 'majority');
    assert.equal(claims.readPreference?.mode, 'primary');
    await client.close();
  });
});

describe('UniqueInserts on a replica set', () => {
  /** A Db whose `command` answers from `answers` in turn, recording what it was sent. */
  function fakeDb(answers: (() => unknown)[]) {
    const sent: Record<string, unknown>[] = [];
    const db = { command: async (command: Record<string, unknown>) => {
      sent.push(command);
      return (answers[sent.length - 1] ?? (() => ({ n: 1 })))();
    } } as unknown as Db;
    return { db, sent };
  }
  const notPrimary = () => {
    throw new MongoServerError({ message: 'not primary', code: 10107, errmsg: 'not primary' });
  };

  it('asks for majority acknowledgement', async () => {
    const { db, sent } = fakeDb([() => ({ n: 1 })]);
    assert.equal(await new UniqueInserts(db, 'grant_claims').insert({ _id: 'a' }), true);
    assert.deepEqual(sent[0]!.writeConcern, { w: 'majority' });
  });

  it('sends an insert refused by a node no longer primary once more, and learns the outcome from the new primary', async () => {
    const { db, sent } = fakeDb([notPrimary, () => ({ n: 0, writeErrors: [{ index: 0, code: 11000 }] })]);
    assert.equal(await new UniqueInserts(db, 'grant_claims').insert({ _id: 'a' }), false);
    assert.equal(sent.length, 2);
  });

  it('never sends twice an insert whose outcome is unknown (the connection failed): the caller gets the error', async () => {
    const { db, sent } = fakeDb([() => {
      throw new Error('connection reset');
    }]);
    await assert.rejects(new UniqueInserts(db, 'grant_claims').insert({ _id: 'a' }), /connection reset/);
    assert.equal(sent.length, 1);
  });
});
