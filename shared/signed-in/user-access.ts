// Whether an operator ended a resource owner's access (oauth-admin users delete|disable): a
// session of a user who is gone or disabled, or one begun before their access was last ended, is
// no session; a disabled user's sign-in fails like a wrong password. Answered from the reference
// cache, which the CLI's `users` announcement reloads at once.
import type { CachedUser } from '#shared/reference-data/reference-cache.ts';

/** Looks a user up by subject identifier (the cache, or the database on a miss). */
export type FindUser = (sub: string) => Promise<CachedUser | undefined>;

export const mayUseSession = (user: CachedUser | undefined, session: { authTime: Date }): boolean =>
  user !== undefined && user.disabled !== true && (user.accessEndedAt === undefined || session.authTime > user.accessEndedAt);

export const maySignIn = (user: CachedUser | undefined): boolean => user !== undefined && user.disabled !== true;
