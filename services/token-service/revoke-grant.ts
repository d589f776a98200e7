// Revocation records: what validation-service must refuse from now on. Recording one stores it
// and broadcasts it to every validation-service instance (wired in main.ts).
import { addSeconds } from '#shared/clock.ts';
import type { RefreshTokens } from '#shared/grants/refresh-tokens.ts';
import type { RevocableToken } from '#shared/grants/revocation-set.ts';
import type { IssuanceDeps } from './issue-access-token.ts';
import type { ResourceDeps } from './select-resources.ts';
import type { Revocation, TokenStore } from './store.ts';

/** What the grants that keep a family (code, refresh) need besides their store: sealing, revocation, issuance. */
export type FamilyGrantDeps = IssuanceDeps & ResourceDeps & {
  refreshTokens: RefreshTokens;
  revocations: { isRevoked(token: RevocableToken): boolean };
  recordRevocation: RecordRevocation;
};

export type RecordRevocation = (revocation: Revocation) => Promise<void>;

/** Beyond a token's `exp`: validation accepts 5 s of leeway, and clocks drift. */
export const REVOCATION_MARGIN_SECONDS = 60;


/** When a record covering tokens issued until `now` with lifetime `ttlSeconds` may be forgotten. */
export const revocationExpiry = (now: Date, ttlSeconds: number): Date => addSeconds(now, ttlSeconds + REVOCATION_MARGIN_SECONDS);

/**
 * Every access token of the grant (claim `gid`) is revoked until the last one could have expired,
 * and with `familyExpiresAt` (a grant with refresh tokens) its refresh tokens too: they are sealed,
 * so this record (in every instance's RevocationSet) is what refuses them until they expire.
 */
export function recordGrantRevocation(
  record: RecordRevocation,
  grantId: string,
  accessTokenTtlSeconds: number,
  now: Date,
  familyExpiresAt?: Date,
): Promise<void> {
  const lastIssue = familyExpiresAt && familyExpiresAt > now ? familyExpiresAt : now;
  return record({ kind: 'grant', key: grantId, issuedBefore: now, expiresAt: revocationExpiry(lastIssue, accessTokenTtlSeconds) });
}

/**
 * Records a grant revocation already decided by its `revoked:` claim, and marks the family. A
 * failure is not the caller's: the revocation is applied in memory everywhere already (see
 * record-revocation.ts), and completeDecidedRevocations stores it later from the note taken with
 * the claim (unrecorded_revocations).
 */
export async function completeGrantRevocation(
  deps: { store: Pick<TokenStore, 'markFamilyRevoked'>; recordRevocation: RecordRevocation },
  grantId: string, accessTokenTtlSeconds: number, now: Date, familyExpiresAt: Date,
): Promise<boolean> {
  try {
    await recordGrantRevocation(deps.recordRevocation, grantId, accessTokenTtlSeconds, now, familyExpiresAt);
    await deps.store.markFamilyRevoked(grantId, now);
    return true;
  } catch {
    return false;
  }
}
