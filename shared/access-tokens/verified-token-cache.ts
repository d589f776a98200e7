// A bounded LRU of access tokens whose signature and claims were verified, keyed by the exact
// token string. The signature check dominates the cost of a validation, and resource servers
// present the same token many times; a hit skips only the signature and static claim checks:
// expiry, key retirement and revocation are checked again on every use.
export class VerifiedTokenCache<V> {
  readonly #max: number;
  readonly #entries = new Map<string, V>();

  constructor(maxEntries: number) {
    this.#max = maxEntries;
  }

  get(token: string): V | undefined {
    const value = this.#entries.get(token);
    if (value !== undefined) {
      // Map keeps insertion order: re-inserting makes this the most recently used entry.
      this.#entries.delete(token);
      this.#entries.set(token, value);
    }
    return value;
  }

  set(token: string, value: V): void {
    if (this.#max === 0) return;
    this.#entries.delete(token);
    this.#entries.set(token, value);
    if (this.#entries.size > this.#max) {
      const oldest = this.#entries.keys().next();
      if (!oldest.done) this.#entries.delete(oldest.value);
    }
  }

  delete(token: string): void {
    this.#entries.delete(token);
  }

  get size(): number {
    return this.#entries.size;
  }
}
