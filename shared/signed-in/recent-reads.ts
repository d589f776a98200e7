// Reads of records that rarely change, kept for a few seconds: a signed-in owner's session and
// remembered consent are read on every authorization, each read a round trip to the database (and
// on FerretDB 1.x, unless built by scripts/local-infra.ts for SQLite, a full scan). A change made
// through any instance drops the entry everywhere at once (the change broadcast, see
// cached-reads.ts); `maxAgeMs` bounds how stale an entry can be should a broadcast be lost.
// Concurrent reads of one key share one database read. Bounded; oldest out first.
export class RecentReads<V> {
  readonly #maxAgeMs: number;
  readonly #maxEntries: number;
  readonly #nowMs: () => number;
  readonly #entries = new Map<string, { value: Promise<V | null>; readAtMs: number }>();

  constructor(options: { maxAgeMs: number; maxEntries: number; nowMs?: () => number }) {
    this.#maxAgeMs = options.maxAgeMs;
    this.#maxEntries = options.maxEntries;
    this.#nowMs = options.nowMs ?? Date.now;
  }

  /** The value read within `maxAgeMs`, else `read()`'s (remembered only when it succeeds). */
  get(key: string, read: () => Promise<V | null>): Promise<V | null> {
    const now = this.#nowMs();
    const entry = this.#entries.get(key);
    if (entry && now - entry.readAtMs < this.#maxAgeMs) return entry.value;
    if (this.#maxEntries === 0 || this.#maxAgeMs === 0) return read();
    const value = read();
    this.#entries.delete(key);
    this.#entries.set(key, { value, readAtMs: now });
    if (this.#entries.size > this.#maxEntries) this.#entries.delete(this.#entries.keys().next().value!);
    value.catch(() => {
      if (this.#entries.get(key)?.value === value) this.#entries.delete(key);
    });
    return value;
  }

  forget(key: string): void {
    this.#entries.delete(key);
  }

  forgetAll(): void {
    this.#entries.clear();
  }
}
