// Sign-in sessions: a random id in the cookie, only its SHA-256 stored. Reading one checks the
// format first and the expiry in the query; signing out deletes it.
import type { Audit } from '#shared/audit/publish-audit-event.ts';
import type { Clock } from '#shared/clock.ts';
import { sha256 } from '#shared/crypto.ts';
import type { ConsentUiStore } from './store.ts';
import { mayUseSession, type FindUser } from './user-access.ts';

export type Session = { id: string; sub: string; username: string; authTime: Date; expiresAt: Date };

/** randomToken(32): 256 bits, base64url. */
const SESSION_ID = /^[A-Za-z0-9_-]{43}$/;

export type ReadSessionDeps = {
  store: Pick<ConsentUiStore, 'findSession'>;
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

export type SignOutDeps = { store: Pick<ConsentUiStore, 'deleteSession'>; audit: Audit };

export async function signOut(deps: SignOutDeps, session: Session): Promise<void> {
  await deps.store.deleteSession(sha256(session.id));
  deps.audit.emit('oauth.logout', session.username, { sub: session.sub, username: session.username });
}
