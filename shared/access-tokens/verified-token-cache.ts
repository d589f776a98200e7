// A bounded LRU of access tokens whose signature and claims were verified, found by the exact
// token string. The signature check dominates the cost of a validation, and resource servers
// present the same token many times; a hit skips only the signature and static claim checks:
// expiry, key retirement and revocation are checked again on every use.

type Entry<V> = { token: string; value: V };

/**
 * Where an entry is filed: the token's last segment, a JWS's signature (86 characters for ES256).
 * Each request's token is a new string whose hash V8 computes on the first lookup: over the whole
 * token (700 characters and more) that cost a validation about 1 µs, a tenth of its CPU; over the
 * signature a seventh of that. A hit still needs the whole token to be equal.
 */
const tailOf = (token: string): string => token.slice(token.lastIndexOf('.') + 1);

export class VerifiedTokenCache<V> {
  readonly #max: number;
  readonly #entries = new Map<string, Entry<V>>();

  constructor(maxEntries: number) {
    this.#max = maxEntries;
  }

  get(token: string): V | undefined {
    const tail = tailOf(token);
    const entry = this.#entries.get(tail);
    if (entry === undefined || entry.token !== token) return undefined;
    // Map keeps insertion order: re-inserting makes this the most recently used entry.
    this.#entries.delete(tail);
    this.#entries.set(tail, entry);
    return entry.value;
  }

  set(token: string, value: V): void {
    if (this.#max === 0) return;
    const tail = tailOf(token);
    // The caller sets only tokens it verified (verify-access-token.ts), and two verified tokens
    // share a signature segment only if they are the same token: nothing genuine is displaced.
    this.#entries.delete(tail);
    this.#entries.set(tail, { token, value });
    if (this.#entries.size > this.#max) {
      const oldest = this.#entries.keys().next();
      if (!oldest.done) this.#entries.delete(oldest.value);
    }
  }

  delete(token: string): void {
    const tail = tailOf(token);
    if (this.#entries.get(tail)?.token === token) this.#entries.delete(tail);
  }

  get size(): number {
    return this.#entries.size;
  }
}
