// Sign-in throttling rules (CONTRACT "Sign-in abuse"): how many failed attempts an account or a
// client address gets before a lock, how long each lock lasts, and what counts as one address.
import { isIPv4, isIPv6 } from 'node:net';

export type LoginPolicy = {
  /** Consecutive failures of one account before it is locked (at most 10 by contract). */
  maxFailures: number;
  /** Failures from one client address before it is locked. */
  addressMaxFailures: number;
  /** The first lock; each further one doubles, up to maxLockSeconds (at least 60 s by contract). */
  lockSeconds: number;
  maxLockSeconds: number;
  /** How long failures are remembered after the last attempt. */
  memorySeconds: number;
};

export const accountKey = (username: string) => `user:${username}`;
export const addressKey = (address: string) => `ip:${address}`;

/**
 * Attempts allowed before the next lock: `max` at first, then one more after each lock, so an
 * attacker who waits out a lock gets one guess per (ever longer) lock.
 */
export const allowance = (max: number, locks: number) => max + locks;

/** Length of the lock that follows `previousLocks` earlier ones: 60 s, 120 s, 240 s … capped. */
export function lockSeconds(policy: Pick<LoginPolicy, 'lockSeconds' | 'maxLockSeconds'>, previousLocks: number): number {
  return Math.min(policy.lockSeconds * 2 ** Math.min(previousLocks, 30), policy.maxLockSeconds);
}

/**
 * The address a client is throttled by: an IPv4 address as it is (IPv4-mapped IPv6 included), and
 * for IPv6 its /64 prefix, since one host usually holds a whole /64.
 */
export function clientAddress(ip: string): string {
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(ip);
  if (mapped) return mapped[1]!;
  if (isIPv4(ip)) return ip;
  const bare = ip.split('%')[0]!;
  if (!isIPv6(bare)) return ip.slice(0, 64);
  const [head = '', tail] = bare.toLowerCase().split('::') as [string, string | undefined];
  const headGroups = head === '' ? [] : head.split(':');
  const tailGroups = tail === undefined || tail === '' ? [] : tail.split(':');
  // An embedded IPv4 address (::ffff:1.2.3.4, 64:ff9b::1.2.3.4) takes the room of two groups.
  const embeddedV4 = bare.includes('.') ? 1 : 0;
  const missing = 8 - headGroups.length - tailGroups.length - embeddedV4;
  const groups = tail === undefined ? headGroups : [...headGroups, ...Array<string>(Math.max(missing, 0)).fill('0'), ...tailGroups];
  return `${groups.slice(0, 4).map((g) => g.replace(/^0+(?=.)/, '')).join(':')}::/64`;
}

/**
 * Keys (accounts, client addresses) seen with no lock on record, for a moment: their locks need not
 * be read again at once. Only stricter, never laxer: were a lock set meanwhile (by another
 * instance), the failures that set it are still counted, so the next attempt is over the
 * allowance and refused all the same. A lock set here forgets the key at once.
 */
export class UnlockedKeys {
  readonly #ttlMs: number;
  readonly #maxEntries: number;
  readonly #until = new Map<string, number>();

  constructor(ttlMs = 1000, maxEntries = 10_000) {
    this.#ttlMs = ttlMs;
    this.#maxEntries = maxEntries;
  }

  has(key: string, now: Date): boolean {
    return (this.#until.get(key) ?? 0) > now.getTime();
  }

  add(key: string, now: Date): void {
    if (this.#until.size >= this.#maxEntries && !this.#until.has(key)) this.#until.clear();
    this.#until.set(key, now.getTime() + this.#ttlMs);
  }

  delete(key: string): void {
    this.#until.delete(key);
  }
}

/** How long an attempt waits for one of its key's password checks in progress to end (then it is refused, like a failure). */
export const ADMISSION_WAIT_MS = 4000;

/** What this process knows of a key while sign-ins of it are in progress. */
export type GateState = {
  /** Password checks of the key in progress here. */
  inFlight: number;
  /** The key's failure count as last read or written here (forgotten once the key is idle). */
  failures: number | undefined;
};

type KeyState = GateState & { pending: number; tail: Promise<unknown>; waiters: Set<() => void> };

/**
 * Sign-in attempts in progress in this process, per key (an account or a client address). Each key's
 * failures are one counter document (finding 11: a count of records grew with every failure), and
 * FerretDB loses concurrent updates of one document, so this process reads and writes a key's count
 * one call after the other (`exclusive`). It lets at most as many password checks of a key run at
 * once as the key has failures left before its next lock; further attempts wait for one to end: a
 * success makes room (successes never count), a failure may set the lock. Locks set or seen here are
 * remembered until they end, so a flood is refused without asking the database each time.
 */
export class AttemptGates {
  readonly #busy = new Map<string, KeyState>();
  readonly #locked = new Map<string, number>();
  readonly #maxLocked: number;

  constructor(maxLocked = 10_000) {
    this.#maxLocked = maxLocked;
  }

  /** Runs `update` after every earlier one of `key` here has ended. */
  exclusive<T>(key: string, update: (state: GateState) => Promise<T>): Promise<T> {
    const state = this.#state(key);
    state.pending++;
    const run = state.tail.then(() => update(state));
    state.tail = run.catch(() => undefined);
    return run.finally(() => {
      state.pending--;
      this.#release(key, state);
    });
  }

  /** A password check of `key` ended here: waiting attempts look again. */
  leave(key: string): void {
    const state = this.#busy.get(key);
    if (!state) return;
    state.inFlight = Math.max(0, state.inFlight - 1);
    this.#wake(state);
    this.#release(key, state);
  }

  /** Waits for a password check of `key` to end, or a lock; false after `ms` without either. */
  wait(key: string, ms: number): Promise<boolean> {
    const state = this.#state(key);
    return new Promise((resolve) => {
      const done = (woken: boolean) => {
        clearTimeout(timer);
        state.waiters.delete(wake);
        this.#release(key, state);
        resolve(woken);
      };
      const wake = () => done(true);
      const timer = setTimeout(() => done(false), Math.max(0, ms));
      state.waiters.add(wake);
    });
  }

  lockedUntil(key: string, now: Date): Date | undefined {
    const until = this.#locked.get(key);
    if (until === undefined) return undefined;
    if (until > now.getTime()) return new Date(until);
    this.#locked.delete(key);
    return undefined;
  }

  rememberLock(key: string, until: Date): void {
    if (this.#locked.size >= this.#maxLocked && !this.#locked.has(key)) this.#locked.clear();
    this.#locked.set(key, until.getTime());
    const state = this.#busy.get(key);
    if (state) this.#wake(state);
  }

  /** A success cleared the key's locks. */
  forgetLock(key: string): void {
    this.#locked.delete(key);
  }

  #state(key: string): KeyState {
    let state = this.#busy.get(key);
    if (!state) {
      state = { inFlight: 0, failures: undefined, pending: 0, tail: Promise.resolve(), waiters: new Set() };
      this.#busy.set(key, state);
    }
    return state;
  }

  #wake(state: KeyState): void {
    for (const wake of [...state.waiters]) wake();
  }

  #release(key: string, state: KeyState): void {
    if (state.inFlight === 0 && state.pending === 0 && state.waiters.size === 0 && this.#busy.get(key) === state) this.#busy.delete(key);
  }
}
