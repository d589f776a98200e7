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
