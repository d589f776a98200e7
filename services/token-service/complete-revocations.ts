// Revocations decided but not recorded: a grant's revocation was decided (its `revoked:` claim, noted
// in unrecorded_revocations just before) for a reuse, a replay or a revocation request, and then
// storing its revocation record failed (a database blip, a crash). The note is enough to finish the
// job: every round, each decided grant without a stored revocation record is recorded now (what
// memory holds does not count: a revocation applied and broadcast but not stored would be lost at
// the next start), so a detected reuse always ends with the family revoked, whatever failed in
// between. Revocations decided by earlier releases left no note; `fromClaims` also looks for those
// among the claims themselves, a read of every claim on FerretDB, so it is asked for rarely.
import type { Clock } from '#shared/clock.ts';
import { MAX_ACCESS_TOKEN_TTL_SECONDS } from '#shared/reference-data/clients.ts';
import { completeGrantRevocation, type RecordRevocation } from './revoke-grant.ts';
import type { TokenStore } from './store.ts';

/** How long a decided revocation is given to be recorded by the request that decided it. */
const IN_PROGRESS_MS = 60_000;

export type Deps = {
  store: Pick<TokenStore, 'decidedRevocations' | 'decidedRevocationsFromClaims' | 'storedGrantRevocations' | 'revocationRecorded' | 'markFamilyRevoked'>;
  recordRevocation: RecordRevocation;
  clock: Clock;
};

/** Returns how many revocations were completed; throws when the decided ones cannot be read. */
export async function completeDecidedRevocations(deps: Deps, options: { fromClaims?: boolean } = {}): Promise<number> {
  const now = deps.clock.now();
  let completed = 0;
  // Not those decided a moment ago: their revocation may be on its way.
  const decidedBefore = new Date(now.getTime() - IN_PROGRESS_MS);
  const decided = new Map((await deps.store.decidedRevocations(now, decidedBefore)).map((d) => [d.grantId, d.familyExpiresAt]));
  if (options.fromClaims) {
    for (const d of await deps.store.decidedRevocationsFromClaims(now, decidedBefore)) if (!decided.has(d.grantId)) decided.set(d.grantId, d.familyExpiresAt);
  }
  const stored = await deps.store.storedGrantRevocations([...decided.keys()]);
  for (const [grantId, familyExpiresAt] of decided) {
    if (stored.has(grantId)) {
      // Stored after all: only the note is left to clear (tried again next round if this fails).
      await deps.store.revocationRecorded(grantId, now).catch(() => undefined);
      continue;
    }
    // The client's access-token lifetime is not known here: the longest any client may have.
    if (await completeGrantRevocation(deps, grantId, MAX_ACCESS_TOKEN_TTL_SECONDS, now, familyExpiresAt)) completed += 1;
  }
  return completed;
}
