// The in-memory revocation set every validation and every refresh answers from (no database
// round trip).
// Start order matters: subscribe to the broadcast FIRST, then load every live record, so a
// revocation recorded while the load runs is not missed (merging is idempotent, so one seen
// twice is harmless). A resync every few seconds re-reads what was written recently, covering
// broadcasts lost while NATS was down. "Recently" is measured in the database's clock, never this
// instance's or the writer's: records are stamped by the database when written or widened, and
// the set remembers the newest stamp it has read (skew between instances cannot hide a record).
// Records are dropped once every token they cover has expired, so memory is bounded by the
// tokens' lifetimes.
import type { Clock } from '#shared/clock.ts';
import type { Logger } from '#shared/logger.ts';
import type { RevocationRecorded } from '#shared/contracts/revocation-recorded.ts';

export type RevocationKind = RevocationRecorded['kind'];

/** The kinds that end grants up to an instant (`issuedBeforeMs`), not one token or grant by its id. */
export const cutsOffByTime = (kind: RevocationKind): boolean => kind === 'subject_client' || kind === 'subject' || kind === 'client';

/** A revocation as the set keeps it (from a stored record or a broadcast). */
export type RevocationRecord = {
  kind: RevocationKind;
  /** jti, grant id, `${sub} ${client_id}` for subject_client, sub for subject, client_id for client. */
  key: string;
  /** Tokens issued at or before this (epoch ms) are covered (subject_client, subject and client only). */
  issuedBeforeMs: number;
  /** When every token the record covers has expired (epoch ms). */
  expiresAtMs: number;
  /** The database's time when the record was last written (epoch ms); only on records read from the database. */
  changedAtMs?: number;
};

/**
 * The token facts revocation depends on. An access token has `iat` in seconds (a revocation in the
 * same second covers it: the strict side); a refresh token has no jti, and its grant's start in
 * milliseconds, so a grant that begins just after its owner withdrew consent is not caught by it.
 */
export type RevocableToken = { jti?: string; grantId: string | undefined; sub: string; clientId: string; iat: number; iatMs?: number };

export type RevocationSetDeps = {
  clock: Clock;
  log: Logger;
  /** Calls `onRecord` for each broadcast revocation; returns how to stop listening. */
  subscribe(onRecord: (record: RevocationRecord) => void): { unsubscribe(): void };
  loadActive(now: Date, graceMs: number): Promise<RevocationRecord[]>;
  /** Records the database stamped (changedAt) after `since`, an instant in the database's clock. */
  loadChangedSince(since: Date): Promise<RevocationRecord[]>;
  resyncMs: number;
};

/**
 * A record is kept this long past its expiresAt: a token stays active up to 5 s after its `exp`
 * (the contract's leeway), so dropping the record at `exp` would revive it for those seconds.
 */
export const RETAIN_AFTER_EXPIRY_MS = 10_000;
/**
 * A resync re-reads records stamped after the newest stamp already read minus this overlap: writes
 * stamped before that newest one but committed after the read, and skew between the clocks of a
 * replica set's members across a primary change.
 */
export const RESYNC_OVERLAP_MS = 10_000;

type Entry = { issuedBeforeMs: number; expiresAtMs: number };

export class RevocationSet {
  readonly #deps: RevocationSetDeps;
  readonly #jtis = new Map<string, Entry>();
  readonly #grants = new Map<string, Entry>();
  readonly #subjectClients = new Map<string, Entry>();
  /** A whole resource owner's tokens (key: sub) or a whole client's (key: client_id), up to an instant: an operator ended their access. */
  readonly #subjects = new Map<string, Entry>();
  readonly #clients = new Map<string, Entry>();
  #subscription: { unsubscribe(): void } | undefined;
  #timer: NodeJS.Timeout | undefined;
  /** The newest database stamp read so far (epoch ms); undefined until a stamped record was read. */
  #highWaterMs: number | undefined;
  #syncing = false;
  #syncAgain = false;

  constructor(deps: RevocationSetDeps) {
    this.#deps = deps;
  }

  /** Subscribes, loads, and schedules the resync; throws when the first load fails. */
  async start(): Promise<void> {
    this.#subscription = this.#deps.subscribe((record) => this.record(record));
    this.#apply(await this.#deps.loadActive(this.#deps.clock.now(), RETAIN_AFTER_EXPIRY_MS));
    this.#timer = setInterval(() => void this.resync(), this.#deps.resyncMs);
    this.#timer.unref();
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#subscription?.unsubscribe();
  }

  /** Adds a record; of two for the same key the wider one wins, so order and repetition do not matter. */
  record(record: RevocationRecord): void {
    if (record.expiresAtMs + RETAIN_AFTER_EXPIRY_MS <= this.#deps.clock.now().getTime()) return;
    const map = this.#mapFor(record.kind);
    // A kind this version does not know (a newer writer during a rolling upgrade) is skipped, not a crash.
    if (!map) return;
    const existing = map.get(record.key);
    map.set(record.key, existing
      ? { issuedBeforeMs: Math.max(existing.issuedBeforeMs, record.issuedBeforeMs), expiresAtMs: Math.max(existing.expiresAtMs, record.expiresAtMs) }
      : { issuedBeforeMs: record.issuedBeforeMs, expiresAtMs: record.expiresAtMs });
  }

  /**
   * True when the token is revoked: its jti, or its whole grant (every token of it, whenever
   * issued), or its owner's grants to its client, or all its owner's, or all its client's, up to a
   * point in time (`iat <= issuedBefore`).
   */
  isRevoked(token: RevocableToken): boolean {
    if (token.jti !== undefined && this.#jtis.has(token.jti)) return true;
    if (token.grantId !== undefined && this.#grants.has(token.grantId)) return true;
    const issuedMs = token.iatMs ?? token.iat * 1000;
    return issuedNoLaterThan(this.#subjectClients, `${token.sub} ${token.clientId}`, issuedMs)
      || issuedNoLaterThan(this.#subjects, token.sub, issuedMs)
      || issuedNoLaterThan(this.#clients, token.clientId, issuedMs);
  }

  get size(): number {
    return this.#jtis.size + this.#grants.size + this.#subjectClients.size + this.#subjects.size + this.#clients.size;
  }

  /**
   * Re-reads the records the database stamped since the newest stamp read (minus the overlap), or
   * every live one before any stamp was read, and drops expired ones; a failure is retried next time.
   */
  async resync(): Promise<void> {
    // One at a time; asked for meanwhile, it runs once more after, so what was stored since is read.
    if (this.#syncing) {
      this.#syncAgain = true;
      return;
    }
    this.#syncing = true;
    this.#syncAgain = false;
    try {
      const highWaterMs = this.#highWaterMs;
      this.#apply(highWaterMs === undefined
        ? await this.#deps.loadActive(this.#deps.clock.now(), RETAIN_AFTER_EXPIRY_MS)
        : await this.#deps.loadChangedSince(new Date(highWaterMs - RESYNC_OVERLAP_MS)));
    } catch (error) {
      this.#deps.log.warn({ err: error }, 'revocation resync failed; retrying on the next tick');
    } finally {
      this.#syncing = false;
      this.sweep();
      if (this.#syncAgain) void this.resync();
    }
  }

  /** Forgets records whose tokens have all expired (and the leeway after them has passed). */
  sweep(): void {
    const cutoff = this.#deps.clock.now().getTime() - RETAIN_AFTER_EXPIRY_MS;
    for (const map of [this.#jtis, this.#grants, this.#subjectClients, this.#subjects, this.#clients]) {
      for (const [key, entry] of map) if (entry.expiresAtMs <= cutoff) map.delete(key);
    }
  }

  /** Adds records read from the database and moves the high-water mark to their newest stamp. */
  #apply(records: RevocationRecord[]): void {
    for (const record of records) {
      this.record(record);
      const stamp = record.changedAtMs;
      if (stamp !== undefined && (this.#highWaterMs === undefined || stamp > this.#highWaterMs)) this.#highWaterMs = stamp;
    }
  }

  #mapFor(kind: RevocationRecord['kind']): Map<string, Entry> | undefined {
    switch (kind) {
      case 'jti': return this.#jtis;
      case 'grant': return this.#grants;
      case 'subject_client': return this.#subjectClients;
      case 'subject': return this.#subjects;
      case 'client': return this.#clients;
      default: return undefined;
    }
  }
}

/** True when `map` has a cut-off for `key` at or after `issuedMs` (the empty map, the usual case, costs nothing). */
function issuedNoLaterThan(map: ReadonlyMap<string, Entry>, key: string, issuedMs: number): boolean {
  if (map.size === 0) return false;
  const entry = map.get(key);
  return entry !== undefined && issuedMs <= entry.issuedBeforeMs;
}
