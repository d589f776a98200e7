// Group commit for the unique-key inserts every exactly-once decision rests on (a code redeemed,
// a refresh token spent, an authorization request decided). Inserts that arrive while one write
// is in flight go out together as one unordered insertMany when it returns: at rest that is one
// insert per call with no added wait, under load one database command (and one transaction on
// FerretDB) for many. Each caller still learns for its own document whether it was the one that
// landed: a duplicate key in the batch fails only that document.
import { MongoBulkWriteError, type Collection, type OptionalUnlessRequiredId } from 'mongodb';
import { isDuplicateKey } from '#shared/mongo.ts';

type Pending<T> = { doc: T; resolve(inserted: boolean): void; reject(error: unknown): void };

const DUPLICATE_KEY = 11000;

export class UniqueInserts<T extends { _id: string }> {
  readonly #collection: Collection<T>;
  readonly #maxBatch: number;
  #queue: Pending<T>[] = [];
  #writing = false;

  constructor(collection: Collection<T>, options: { maxBatch?: number } = {}) {
    this.#collection = collection;
    this.#maxBatch = options.maxBatch ?? 100;
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
    const docs = batch.map((p) => p.doc as OptionalUnlessRequiredId<T>);
    try {
      if (docs.length === 1) await this.#collection.insertOne(docs[0]!);
      else await this.#collection.insertMany(docs, { ordered: false });
      for (const p of batch) p.resolve(true);
    } catch (error) {
      if (docs.length === 1 && isDuplicateKey(error)) return batch[0]!.resolve(false);
      if (!(error instanceof MongoBulkWriteError)) {
        for (const p of batch) p.reject(error);
        return;
      }
      // Unordered: every document without a write error of its own was inserted.
      const writeErrors = Array.isArray(error.writeErrors) ? error.writeErrors : [error.writeErrors];
      const failed = new Map(writeErrors.map((e) => [e.index, e]));
      batch.forEach((p, index) => {
        const writeError = failed.get(index);
        if (!writeError) p.resolve(true);
        else if (writeError.code === DUPLICATE_KEY) p.resolve(false);
        else p.reject(new Error(`insert failed: ${writeError.errmsg ?? writeError.code}`));
      });
    }
  }
}
