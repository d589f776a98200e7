// Group commit for the unique-key inserts every exactly-once decision rests on (a code redeemed,
// a refresh token spent, an authorization request decided). Inserts that arrive while one write
// is in flight go out together as one unordered `insert` command when it returns: at rest that is
// one insert per call with no added wait, under load one database command (and one transaction on
// FerretDB) for many. Each caller still learns for its own document whether it was the one that
// landed: a duplicate key in the batch fails only that document.
//
// The command is sent as is, not through insertMany: the driver wraps a failure of the whole
// command (a lost connection, a timeout) in a MongoBulkWriteError with no write errors, which
// would read as "every document inserted". Here only the server's own per-document answer counts;
// anything else fails every caller with the original error (so unavailability stays a 503).
//
// On a replica set every insert waits for a majority (a claim that a failover could roll back is
// no claim), and an insert the old primary refused before applying it (NotWritablePrimary) is
// sent once more, to the new one. Nothing else is sent twice: the driver never retries a raw
// command, and a retried insert whose first attempt landed would read as "claimed by another".
import { MongoServerError, type CollectionOptions, type Db, type Document } from 'mongodb';

/** Collections whose writes decide something once (claims, decisions): majority writes, reads from the primary. */
export const EXACTLY_ONCE: CollectionOptions = { writeConcern: { w: 'majority' }, readPreference: 'primary' };

/** Server errors that mean the insert was refused before anything was applied: not primary (any more). */
const REFUSED_BY_NON_PRIMARY = new Set([10107, 13435]);

export const refusedByNonPrimary = (error: unknown): boolean => error instanceof MongoServerError && REFUSED_BY_NON_PRIMARY.has(Number(error.code));

/** Told of each insert command once it is answered or has failed: its collection, documents, and time in flight. */
export type WriteObserver = (collection: string, documents: number, seconds: number) => void;

type Pending<T> = { doc: T; resolve(inserted: boolean): void; reject(error: unknown): void };

type InsertReply = { n?: number; writeErrors?: { index: number; code?: number; errmsg?: string }[]; writeConcernError?: unknown };

const DUPLICATE_KEY = 11000;

export class UniqueInserts<T extends { _id: string } & Document> {
  readonly #db: Db;
  readonly #collectionName: string;
  readonly #maxBatch: number;
  readonly #observe: WriteObserver | undefined;
  #queue: Pending<T>[] = [];
  #writing = false;

  constructor(db: Db, collectionName: string, options: { maxBatch?: number; observe?: WriteObserver } = {}) {
    this.#db = db;
    this.#collectionName = collectionName;
    this.#maxBatch = options.maxBatch ?? 100;
    this.#observe = options.observe;
  }

  /** True when this document was inserted, false when one with its `_id` exists (or landed first). */
  insert(doc: T): Promise<boolean> {
    return new Promise((resolve, reject) => {
      this.#queue.push({ doc, resolve, reject });
      if (!this.#writing) void this.#drain();
    });
  }

  async #drain(): Promise<void> {
    this.#writing = true;
    while (this.#queue.length > 0) {
      const batch = this.#queue.splice(0, this.#maxBatch);
      await this.#write(batch);
    }
    this.#writing = false;
  }

  async #write(batch: Pending<T>[]): Promise<void> {
    let reply: InsertReply;
    const command = { insert: this.#collectionName, documents: batch.map((p) => p.doc), ordered: false, writeConcern: { w: 'majority' } };
    const sent = performance.now();
    try {
      reply = await this.#db.command(command).catch((error: unknown) => {
        if (refusedByNonPrimary(error)) return this.#db.command(command);
        throw error;
      }) as InsertReply;
    } catch (error) {
      for (const p of batch) p.reject(error);
      return;
    } finally {
      // One write in flight at a time: the sum of these times over a while is how busy the writer was.
      this.#observe?.(this.#collectionName, batch.length, (performance.now() - sent) / 1000);
    }
    const writeErrors = reply.writeErrors ?? [];
    if (reply.writeConcernError || (reply.n ?? 0) + writeErrors.length !== batch.length) {
      const error = new Error(`insert into ${this.#collectionName}: the database did not account for every document`);
      for (const p of batch) p.reject(error);
      return;
    }
    // Unordered: every document without a write error of its own was inserted.
    const failed = new Map(writeErrors.map((e) => [e.index, e]));
    batch.forEach((p, index) => {
      const writeError = failed.get(index);
      if (!writeError) p.resolve(true);
      else if (writeError.code === DUPLICATE_KEY) p.resolve(false);
      else p.reject(new Error(`insert into ${this.#collectionName} failed: ${writeError.errmsg ?? writeError.code}`));
    });
  }
}
