// Sign-in sessions: a random id in the cookie, only its SHA-256 stored. Reading one checks the
// cookie's format first, then the record's expiry, then that the user may still use it.
import type { Clock } from '#shared/clock.ts';
import { sha256 } from '#shared/crypto.ts';
import type { OwnerRecordReads } from './records.ts';
import { mayUseSession, type FindUser } from './user-access.ts';

export type Session = { id: string; sub: string; username: string; authTime: Date; expiresAt: Date };

/** randomToken(32): 256 bits, base64url. */
const SESSION_ID = /^[A-Za-z0-9_-]{43}$/;

/** consent-ui's cookies; with an https consent-ui they are Secure and host-only (the __Host- prefix). */
export const sessionCookieNames = (secure: boolean) =>
  (secure ? { session: '__Host-session', csrf: '__Host-csrf' } : { session: 'session', csrf: 'csrf' });

export type ReadSessionDeps = {
  store: Pick<OwnerRecordReads, 'findSession'>;
  clock: Clock;
  /** With it, a session whose user was deleted or disabled since (oauth-admin) is no session. */
  findUser?: FindUser;
};

export async function readSession(deps: ReadSessionDeps, cookieValue: string | undefined): Promise<Session | undefined> {
  if (cookieValue === undefined || !SESSION_ID.test(cookieValue)) return undefined;
  const doc = await deps.store.findSession(sha256(cookieValue), deps.clock.now());
  if (!doc) return undefined;
  if (deps.findUser && !mayUseSession(await deps.findUser(doc.sub), doc)) return undefined;
  return { id: cookieValue, sub: doc.sub, username: doc.username, authTime: doc.authTime, expiresAt: doc.expiresAt };
}

/**
 * The name of consent-ui's session cookie where browsers send it to `url` as well: the same scheme
 * and host name (cookies ignore the port). Undefined where they do not.
 */
export function sessionCookieSentTo(url: string, consentUiUrl: string): string | undefined {
  const here = new URL(url);
  const consentUi = new URL(consentUiUrl);
  if (here.protocol !== consentUi.protocol || here.hostname !== consentUi.hostname) return undefined;
  return sessionCookieNames(consentUi.protocol === 'https:').session;
}
