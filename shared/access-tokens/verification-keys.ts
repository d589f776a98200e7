// Public keys that verify access tokens, held in memory by kid. Each JWK is imported once (a
// key import per request would cost more than the signature check). A token naming a kid not
// held triggers a reload from the database, at most once per UNKNOWN_KID_RELOAD_MS, so a flood
// of made-up kids cannot turn into a flood of queries.
import { importJWK, type CryptoKey, type JWK } from 'jose';
import { SIGNING_ALG } from '#shared/keys/signing-keys.ts';
import type { Clock } from '#shared/clock.ts';
import type { Logger } from '#shared/logger.ts';
import type { PublishedKey } from '#shared/keys/signing-keys.ts';

export const UNKNOWN_KID_RELOAD_MS = 5000;

export type VerificationKeysDeps = {
  clock: Clock;
  log: Logger;
  loadKeys(now: Date): Promise<PublishedKey[]>;
  importKey?: (jwk: JWK) => Promise<CryptoKey>;
};

type HeldKey = { key: CryptoKey; retireAtMs: number; jwkJson: string };

const importEs256 = async (jwk: JWK): Promise<CryptoKey> => (await importJWK(jwk, SIGNING_ALG)) as CryptoKey;

export class VerificationKeys {
  readonly #deps: VerificationKeysDeps;
  readonly #import: (jwk: JWK) => Promise<CryptoKey>;
  #keys = new Map<string, HeldKey>();
  #reloading: Promise<void> | undefined;
  #lastUnknownKidReloadMs = Number.NEGATIVE_INFINITY;

  constructor(deps: VerificationKeysDeps) {
    this.#deps = deps;
    this.#import = deps.importKey ?? importEs256;
  }

  /** The key for `kid` if held and not retired (no I/O: the hot path). */
  current(kid: string): CryptoKey | undefined {
    const held = this.#keys.get(kid);
    return held && held.retireAtMs > this.#deps.clock.now().getTime() ? held.key : undefined;
  }

  /** The key for `kid`, reloading once when it is unknown and no such reload ran in the last 5 s. */
  async find(kid: string): Promise<CryptoKey | undefined> {
    const key = this.current(kid);
    if (key || this.#keys.has(kid)) return key;
    const nowMs = this.#deps.clock.now().getTime();
    if (!this.#reloading) {
      if (nowMs - this.#lastUnknownKidReloadMs < UNKNOWN_KID_RELOAD_MS) return undefined;
      this.#lastUnknownKidReloadMs = nowMs;
    }
    await this.reload().catch((error: unknown) => this.#deps.log.warn({ err: error }, 'signing key reload failed'));
    return this.current(kid);
  }

  get size(): number {
    return this.#keys.size;
  }

  /** Re-reads the published keys; concurrent callers share one load. Throws when the load fails. */
  reload(): Promise<void> {
    this.#reloading ??= this.#load().finally(() => { this.#reloading = undefined; });
    return this.#reloading;
  }

  async #load(): Promise<void> {
    const published = await this.#deps.loadKeys(this.#deps.clock.now());
    const next = new Map<string, HeldKey>();
    for (const { kid, alg, publicJwk, retireAt } of published) {
      // Only ES256 is accepted (RFC 8725 §3.1: one algorithm, chosen by the verifier, not the token).
      if (alg !== SIGNING_ALG) continue;
      const jwkJson = JSON.stringify(publicJwk);
      const held = this.#keys.get(kid);
      const retireAtMs = retireAt ? retireAt.getTime() : Number.POSITIVE_INFINITY;
      if (held && held.jwkJson === jwkJson) {
        next.set(kid, { ...held, retireAtMs });
        continue;
      }
      try {
        next.set(kid, { key: await this.#import(publicJwk), retireAtMs, jwkJson });
      } catch (error) {
        this.#deps.log.error({ err: error, kid }, 'a published signing key could not be imported; tokens it signed are refused');
      }
    }
    this.#keys = next;
  }
}
