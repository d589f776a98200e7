// Revocations decided but not recorded: a grant's `revoked:` claim landed (a reuse, a replay, a
// revocation request), and then storing its revocation record failed (a database blip, a crash).
// The claim is enough to finish the job: at start and with every sweep, each decided grant without
// a stored revocation record is recorded now (what memory holds does not count: a revocation
// applied and broadcast but not stored would be lost at the next start), so a detected reuse always
// ends with the family revoked, whatever failed in between.
import type { Clock } from '#shared/clock.ts';
import { MAX_ACCESS_TOKEN_TTL_SECONDS } from '#shared/reference-data/clients.ts';
import { completeGrantRevocation, type RecordRevocation } from './revoke-grant.ts';
import type { TokenStore } from './store.ts';

/** How long a decided revocation is given to be recorded by the request that decided it. */
const IN_PROGRESS_MS = 60_000;

export type Deps = {
  store: Pick<TokenStore, 'decidedRevocations' | 'storedGrantRevocations' | 'markFamilyRevoked'>;
  recordRevocation: RecordRevocation;
  clock: Clock;
};

/** Returns how many revocations were completed; throws when the decided ones cannot be read. */
export async function completeDecidedRevocations(deps: Deps): Promise<number> {
  const now = deps.clock.now();
  let completed = 0;
  // Not those decided a moment ago: their revocation may be on its way.
  const decided = await deps.store.decidedRevocations(now, new Date(now.getTime() - IN_PROGRESS_MS));
  const stored = await deps.store.storedGrantRevocations(decided.map((d) => d.grantId));
  for (const { grantId, familyExpiresAt } of decided) {
    if (stored.has(grantId)) continue;
    // The client's access-token lifetime is not known here: the longest any client may have.
    if (await completeGrantRevocation(deps, grantId, MAX_ACCESS_TOKEN_TTL_SECONDS, now, familyExpiresAt)) completed += 1;
  }
  return completed;
}
