// Which signing key signs, which is waiting, which is on its way out: decided from a key's times
// alone, so every holder (token-service instances, validation-service, the admin CLI) reaches the
// same answer at the same instant without being told. A key is
// - `next`: published in JWKS, not signing yet (its activation time is ahead);
// - `active`: of the keys whose activation time has passed and that are not superseded, the one
//   activated last (the newest activation wins, so a scheduled key takes over at its time);
// - `retiring`: superseded (or overtaken by a newer active key), still published until `retireAt`,
//   when every token it could have signed has expired;
// - `retired`: past `retireAt`, no longer published nor accepted.
import type { SigningKeyDoc } from './signing-keys.ts';

export const SigningKeyStates = { next: 'next', active: 'active', retiring: 'retiring', retired: 'retired' } as const;
export type SigningKeyState = (typeof SigningKeyStates)[keyof typeof SigningKeyStates];

type KeyTimes = Pick<SigningKeyDoc, '_id' | 'createdAt' | 'supersededAt' | 'retireAt'> & { activatesAt?: Date | null };

/** When the key starts signing: keys made before scheduled rotation existed signed from creation. */
export const activatesAt = (key: KeyTimes): Date => key.activatesAt ?? key.createdAt;

/** True when `key` may sign at `now`: activated, and not superseded yet. */
export const maySign = (key: KeyTimes, now: Date): boolean =>
  activatesAt(key) <= now && (key.supersededAt === null || key.supersededAt > now);

/** Latest activation first; ties (same instant) by creation, then kid, so every holder picks the same key. */
export const byActivationDesc = (a: KeyTimes, b: KeyTimes): number =>
  activatesAt(b).getTime() - activatesAt(a).getTime() || b.createdAt.getTime() - a.createdAt.getTime() || (a._id < b._id ? 1 : a._id > b._id ? -1 : 0);

/** The key that signs at `now` among `keys`, or undefined when none may. */
export function signerAt<K extends KeyTimes>(keys: readonly K[], now: Date): K | undefined {
  return [...keys].sort(byActivationDesc).find((key) => maySign(key, now));
}

/** The state of every key at `now`, in the order given. */
export function keyStates<K extends KeyTimes>(keys: readonly K[], now: Date): { key: K; state: SigningKeyState }[] {
  const signer = signerAt(keys, now);
  return keys.map((key) => ({ key, state: stateOf(key, key === signer, now) }));
}

function stateOf(key: KeyTimes, signs: boolean, now: Date): SigningKeyState {
  if (key.retireAt !== null && key.retireAt <= now) return SigningKeyStates.retired;
  if (signs) return SigningKeyStates.active;
  if (activatesAt(key) > now && (key.supersededAt === null || key.supersededAt > activatesAt(key))) return SigningKeyStates.next;
  return SigningKeyStates.retiring;
}

/**
 * Keys that a later-activating key overtakes and that nobody has marked yet: each is superseded at
 * the first activation after its own, and stays published `retainSeconds` beyond that (the longest
 * access-token lifetime plus a margin). Deterministic, so instances that repair concurrently write
 * the same values.
 */
export function pendingSupersessions<K extends KeyTimes>(keys: readonly K[], retainSeconds: number): { kid: string; supersededAt: Date; retireAt: Date }[] {
  const pending: { kid: string; supersededAt: Date; retireAt: Date }[] = [];
  for (const key of keys) {
    if (key.supersededAt !== null) continue;
    // A key superseded before it ever activated (`oauth-admin keys rotate` replaced it) overtakes nothing.
    const later = keys.filter((other) => other.supersededAt === null || other.supersededAt > activatesAt(other))
      .map(activatesAt).filter((at) => at > activatesAt(key)).sort((a, b) => a.getTime() - b.getTime());
    const supersededAt = later[0];
    if (supersededAt) pending.push({ kid: key._id, supersededAt, retireAt: new Date(supersededAt.getTime() + retainSeconds * 1000) });
  }
  return pending;
}

/** The newest key by creation: the rotation schedule counts from it. */
export function newestKey<K extends KeyTimes>(keys: readonly K[]): K | undefined {
  return [...keys].sort((a, b) => b.createdAt.getTime() - a.createdAt.getTime() || (a._id < b._id ? 1 : -1))[0];
}

/** When the successor of `newest` is due: one rotation period after its creation. */
export const successorDueAt = (newest: KeyTimes, rotationSeconds: number): Date => new Date(newest.createdAt.getTime() + rotationSeconds * 1000);
