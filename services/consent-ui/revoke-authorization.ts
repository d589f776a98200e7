// Revoke on "Your authorizations": token-service ends every refresh token family and access token
// of the client for this owner first; only once it has answered is the consent deleted, so a
// failure leaves the client listed and the owner can try again.
import type { Audit } from '#shared/audit/publish-audit-event.ts';
import type { NatsClient } from './nats-client.ts';
import type { ConsentUiStore } from './store.ts';
import type { Session } from './session.ts';

export type Deps = {
  nats: Pick<NatsClient, 'revokeConsent'>;
  store: Pick<ConsentUiStore, 'deleteConsent'>;
  audit: Audit;
};

export async function revokeAuthorization(deps: Deps, input: { session: Session; clientId: string; reqId: string }): Promise<{ revokedFamilies: number }> {
  const { session, clientId } = input;
  const revokedFamilies = await deps.nats.revokeConsent(session.sub, clientId, input.reqId);
  await deps.store.deleteConsent(session.sub, clientId);
  deps.audit.emit('oauth.consent.revoked', clientId, { client_id: clientId, sub: session.sub, username: session.username, count: revokedFamilies });
  return { revokedFamilies };
}
