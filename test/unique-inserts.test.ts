// UniqueInserts against the real database: concurrent inserts are batched, and each caller
// still learns whether its own document landed, duplicates within and across batches included.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { MongoClient, type Collection, type Db } from 'mongodb';
import { UniqueInserts } from '#shared/unique-inserts.ts';
import { isDatabaseUnavailable } from '#shared/mongo.ts';
import { uniqueMongoUri } from './helpers/system.ts';

type Claim = { _id: string; n: number };

let mongo: MongoClient;
let db: Db;
let claims: Collection<Claim>;
let commands: string[] = [];

before(async () => {
  mongo = new MongoClient(uniqueMongoUri('unique_inserts'), { monitorCommands: true });
  mongo.on('commandStarted', (event) => commands.push(event.commandName));
  await mongo.connect();
  db = mongo.db();
  claims = db.collection<Claim>('claims');
  await claims.insertOne({ _id: 'existing', n: 0 });
});
after(async () => {
  await db.dropDatabase();
  await mongo.close();
});

describe('UniqueInserts', () => {
  it('inserts one document at rest with one insert command', async () => {
    commands = [];
    assert.equal(await new UniqueInserts<Claim>(db, 'claims').insert({ _id: 'alone', n: 1 }), true);
    assert.deepEqual(commands, ['insert']);
    assert.equal((await claims.findOne({ _id: 'alone' }))?.n, 1);
  });

  it('tells its observer of each insert command: the collection, its documents and its time in flight', async () => {
    const seen: { collection: string; documents: number; seconds: number }[] = [];
    const inserts = new UniqueInserts<Claim>(db, 'claims', { observe: (collection, documents, seconds) => seen.push({ collection, documents, seconds }) });
    commands = [];
    await Promise.all(Array.from({ length: 5 }, (_, i) => inserts.insert({ _id: `observed-${i}`, n: i })));
    assert.equal(seen.length, commands.length, 'one observation per command');
    assert.equal(seen.reduce((sum, s) => sum + s.documents, 0), 5, 'every document counted once');
    assert.ok(seen.every((s) => s.collection === 'claims' && s.seconds > 0 && s.seconds < 60));
  });

  it('batches concurrent inserts into fewer commands, and every one lands', async () => {
    const inserts = new UniqueInserts<Claim>(db, 'claims');
    commands = [];
    const results = await Promise.all(Array.from({ length: 40 }, (_, i) => inserts.insert({ _id: `batch-${i}`, n: i })));
    assert.deepEqual(results, Array(40).fill(true));
    assert.ok(commands.length <= 2, `${commands.length} commands for 40 concurrent inserts`);
    assert.equal(await claims.countDocuments({ _id: { $regex: /^batch-/ } }), 40);
  });

  it('of concurrent inserts of one _id exactly one wins, in one batch or across batches', async () => {
    for (const maxBatch of [100, 1, 3]) {
      const inserts = new UniqueInserts<Claim>(db, 'claims', { maxBatch });
      const id = `race-${maxBatch}`;
      const results = await Promise.all(Array.from({ length: 12 }, (_, n) => inserts.insert({ _id: id, n })));
      assert.equal(results.filter(Boolean).length, 1, `maxBatch ${maxBatch}`);
    }
  });

  it('a duplicate fails only its own document; the rest of the batch lands', async () => {
    const inserts = new UniqueInserts<Claim>(db, 'claims');
    const results = await Promise.all([
      inserts.insert({ _id: 'mixed-1', n: 1 }), inserts.insert({ _id: 'existing', n: 2 }), inserts.insert({ _id: 'mixed-2', n: 3 }),
    ]);
    assert.deepEqual(results.slice(1), [false, true]);
    assert.equal(await claims.countDocuments({ _id: { $in: ['mixed-1', 'mixed-2'] } }), 2);
    assert.equal((await claims.findOne({ _id: 'existing' }))?.n, 0);
  });

  it('rejects every caller, with the driver\u2019s own error, when the database cannot be reached: alone or in a batch', async () => {
    const closed = new MongoClient(uniqueMongoUri('unique_inserts_closed'), { serverSelectionTimeoutMS: 200 });
    const inserts = new UniqueInserts<Claim>(closed.db(), 'claims');
    await closed.close();
    // The first goes alone; the two queued behind it go out together as one batch.
    const results = await Promise.allSettled([1, 2, 3].map((n) => inserts.insert({ _id: `down-${n}`, n })));
    assert.deepEqual(results.map((r) => r.status), ['rejected', 'rejected', 'rejected']);
    for (const r of results) assert.ok(isDatabaseUnavailable((r as PromiseRejectedResult).reason), String((r as PromiseRejectedResult).reason));
  });

  it('rejects a document the server refuses (as a document or with its whole batch), never reporting it inserted', async () => {
    const inserts = new UniqueInserts<Claim>(db, 'claims');
    const refused = { _id: 'bad', n: 1, $where: 1 } as unknown as Claim; // a top-level $-field: the whole command fails on MongoDB, the document on FerretDB
    const results = await Promise.allSettled([inserts.insert({ _id: 'lead', n: 0 }), inserts.insert(refused), inserts.insert({ _id: 'other', n: 2 })]);
    assert.equal(results[1]!.status, 'rejected', 'the refused document is never reported inserted');
    for (const [i, r] of results.entries()) {
      if (r.status === 'fulfilled') assert.equal(await claims.countDocuments({ _id: ['lead', 'bad', 'other'][i]! }), 1, 'reported inserted, and stored');
    }
  });
});
