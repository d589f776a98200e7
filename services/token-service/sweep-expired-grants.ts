// Removes grant state token-service no longer needs, where the database has no TTL indexes
// (FerretDB): expired refresh token families, claims, revocation records and client
// authentication events, and families that are dead though not yet expired — revoked, and past
// the expiry of every access token they could have issued. Deleting a dead family changes no
// answer: its (sealed) refresh tokens and its access tokens are refused by the grant's own
// revocation record, which lasts as long as the family would have. The family is also its code's
// claim (for codes of the earlier kind, `code:<grant id>` is), and the day of margin outlives any
// code that could still name the grant (a code lives 10 minutes at most), so no code is freed; a
// replay presented just under a day after the code expired may then go unrecognised (refused all
// the same, as expired).
import { addSeconds, type Clock } from '#shared/clock.ts';
import { REVOCATION_MARGIN_SECONDS } from './revoke-grant.ts';
import { MAX_ACCESS_TOKEN_TTL_SECONDS } from '#shared/reference-data/clients.ts';
import type { TokenStore } from './store.ts';

export type Deps = { store: Pick<TokenStore, 'sweepExpired'>; clock: Clock };

/** Returns how many records were removed. */
export async function sweepExpiredGrants(deps: Deps): Promise<number> {
  const now = deps.clock.now();
  return deps.store.sweepExpired(now, addSeconds(now, -(MAX_ACCESS_TOKEN_TTL_SECONDS + REVOCATION_MARGIN_SECONDS)));
}
