// Scheduled signing-key rotation. Every SIGNING_KEY_ROTATION_SECONDS after the newest key was made
// (by this schedule, by `oauth-admin keys rotate` or as the first key), a successor is made that is
// published at once and signs SIGNING_KEY_PREPUBLISH_SECONDS later, so every JWKS reader holds it
// before any token carries its kid. The key it overtakes is superseded at that activation and stays
// published until the longest access token it could have signed has expired.
//
// Exactly one of several instances rotates: the successor of key K is decided by a unique insert
// of the claim `successor:<K>` (FerretDB applies those atomically; not findOneAndUpdate), which
// carries the new key. The key then enters signing_keys by a second unique insert (its kid) that any
// instance finding the claim without its key may make; the one that lands emits `oauth.key.rotated`
// and announces `keys`. A rotator that dies after its claim delays the rotation by one check.
import { addSeconds, type Clock } from '#shared/clock.ts';
import type { Audit } from '#shared/audit/publish-audit-event.ts';
import type { Logger } from '#shared/logger.ts';
import { MAX_ACCESS_TOKEN_TTL_SECONDS } from '#shared/reference-data/clients.ts';
import { generateSigningKey, KEY_RETIRE_MARGIN_SECONDS } from '#shared/keys/rotate-signing-key.ts';
import { newestKey, pendingSupersessions, successorDueAt } from '#shared/keys/signing-key-states.ts';
import type { TokenStore } from './store.ts';

/** How long a key stays published after it stops signing: the longest access-token lifetime plus a margin. */
export const SCHEDULED_RETAIN_SECONDS = MAX_ACCESS_TOKEN_TTL_SECONDS + KEY_RETIRE_MARGIN_SECONDS;

export type RotateSigningKeysDeps = {
  store: Pick<TokenStore, 'publishedSigningKeys' | 'claimSigningKeySuccessor' | 'signingKeySuccessorClaim' | 'insertSuccessorSigningKey'
    | 'supersedeSigningKeys' | 'sweepExpiredSigningKeyClaims'>;
  kek: Buffer;
  clock: Clock;
  audit: Pick<Audit, 'emit'>;
  /** Tells every key holder to reload (the `keys` reference-data announcement). */
  announce(): void;
  log: Pick<Logger, 'info'>;
  rotationSeconds: number;
  prepublishSeconds: number;
};

export type RotationCheck = { rotated: false; dueAt: Date | null } | { rotated: true; kid: string; activatesAt: Date; previous: string };

/** One rotation check: makes the newest key's successor when it is due. Safe to run on every instance at once. */
export async function rotateSigningKeysOnSchedule(deps: RotateSigningKeysDeps): Promise<RotationCheck> {
  const now = deps.clock.now();
  const keys = await deps.store.publishedSigningKeys(now);
  // Repairs what a rotator that died between inserting a key and superseding its predecessor left.
  await deps.store.supersedeSigningKeys(pendingSupersessions(keys, SCHEDULED_RETAIN_SECONDS));
  const newest = newestKey(keys);
  if (!newest) return { rotated: false, dueAt: null };
  const dueAt = successorDueAt(newest, deps.rotationSeconds);
  if (now < dueAt) return { rotated: false, dueAt };
  await deps.store.sweepExpiredSigningKeyClaims(now);

  let claim = await deps.store.signingKeySuccessorClaim(newest._id, now);
  if (!claim) {
    const ours = {
      predecessorKid: newest._id, key: await generateSigningKey(deps.kek, now), claimedAt: now,
      // Longer than any check could still read `newest` as the newest key; clean-up only.
      expiresAt: addSeconds(now, 2 * deps.rotationSeconds),
    };
    claim = (await deps.store.claimSigningKeySuccessor(ours)) ? ours : await deps.store.signingKeySuccessorClaim(newest._id, now);
    if (!claim) return { rotated: false, dueAt };
  }
  // Published from now, signing only after the prepublish period counted from when it is published.
  const activatesAt = addSeconds(now, deps.prepublishSeconds);
  if (!(await deps.store.insertSuccessorSigningKey({ ...claim.key, createdAt: now, activatesAt }))) return { rotated: false, dueAt };

  const kid = claim.key._id;
  await deps.store.supersedeSigningKeys(pendingSupersessions(await deps.store.publishedSigningKeys(now), SCHEDULED_RETAIN_SECONDS));
  deps.announce();
  await deps.audit.emit('oauth.key.rotated', kid, { kid, count: 1, reason: 'schedule' });
  deps.log.info({ kid, previous: newest._id, activatesAt }, 'made the next signing key (published now, signs at activation)');
  return { rotated: true, kid, activatesAt, previous: newest._id };
}

/**
 * How often every instance checks: a tenth of the rotation period, at most a minute. A rotation is
 * made at most that late; its key is still published the full prepublish period before it signs.
 */
export const rotationCheckIntervalMs = (rotationSeconds: number): number => Math.min(rotationSeconds * 100, 60_000);
