// Refresh grace (per client, `clients create … --refresh-grace-seconds <0-60>`): within that many
// seconds of a refresh token's rotation, the same client presenting it again gets a normal answer
// once, so a response lost on the way (or a database answer lost after the spend landed, SECURITY.md
// finding 9) is not punished as theft. Exactly once rests on the database: the unique insert of
// `refresh_grace:<grant>:<generation>`, as spending rests on `refresh:<grant>:<generation>`.
//
// What the grace answer rotates to: the SAME successor generation the first answer carried (n+1),
// sealed again. Both tokens of generation n+1 are spent by the one claim `refresh:<grant>:<n+1>`,
// so the family keeps one line: whichever is presented first continues it, and the other is then
// a rotated-out token. That other one gets no grace of its own (a generation whose predecessor used
// its grace is strict), so of two holders of one family at most one goes on; the next presentation
// of the other is reuse and revokes the family. Two lines can never both keep working.
import { clientRefreshGraceSeconds, type ClientDoc } from '#shared/reference-data/clients.ts';
import type { RefreshTokenPayload } from '#shared/grants/refresh-tokens.ts';
import type { TokenStore } from './store.ts';

export type Deps = {
  store: Pick<TokenStore, 'refreshTokenSpentAt' | 'refreshGraceUsed' | 'claimRefreshGrace'>;
};

/**
 * True when this presentation of an already spent refresh token is its one grace: the client has a
 * grace, the token was spent at most that long ago, its predecessor used no grace, and this caller
 * landed the grace claim. False means reuse. Costs nothing for clients without a grace (the default).
 */
export async function useRefreshGrace(
  deps: Deps, client: ClientDoc, token: Pick<RefreshTokenPayload, 'grantId' | 'generation'>, familyExpiresAt: Date, now: Date,
): Promise<boolean> {
  const graceSeconds = clientRefreshGraceSeconds(client);
  if (graceSeconds <= 0) return false;
  const [spentAt, predecessorGraced] = await Promise.all([
    deps.store.refreshTokenSpentAt(token),
    token.generation > 0 ? deps.store.refreshGraceUsed({ grantId: token.grantId, generation: token.generation - 1 }) : Promise.resolve(false),
  ]);
  // The window runs from the rotation (the spend's time, written by whichever instance spent it).
  if (spentAt === null || now.getTime() - spentAt.getTime() > graceSeconds * 1000) return false;
  if (predecessorGraced) return false;
  return deps.store.claimRefreshGrace(token, familyExpiresAt, now);
}
