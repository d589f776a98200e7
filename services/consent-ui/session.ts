// Signing out deletes the session (reading one is #shared/signed-in/session.ts, shared with authorize-service).
import type { Audit } from '#shared/audit/publish-audit-event.ts';
import { sha256 } from '#shared/crypto.ts';
import type { ConsentUiStore } from './store.ts';
import type { Session } from '#shared/signed-in/session.ts';

export type SignOutDeps = { store: Pick<ConsentUiStore, 'deleteSession'>; audit: Audit };

export async function signOut(deps: SignOutDeps, session: Session): Promise<void> {
  await deps.store.deleteSession(sha256(session.id));
  await deps.audit.emit('oauth.logout', session.username, { sub: session.sub, username: session.username });
}
