// Signing out deletes the session. Reading one is shared with authorize-service (#shared/signed-in/session.ts).
import type { Audit } from '#shared/audit/publish-audit-event.ts';
import { sha256 } from '#shared/crypto.ts';
import type { ConsentUiStore } from './store.ts';
import type { Session } from '#shared/signed-in/session.ts';

export { readSession, type ReadSessionDeps, type Session } from '#shared/signed-in/session.ts';

export type SignOutDeps = { store: Pick<ConsentUiStore, 'deleteSession'>; audit: Audit };

export async function signOut(deps: SignOutDeps, session: Session): Promise<void> {
  await deps.store.deleteSession(sha256(session.id));
  deps.audit.emit('oauth.logout', session.username, { sub: session.sub, username: session.username });
}
