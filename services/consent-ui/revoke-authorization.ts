// Revoke on "Your authorizations". The remembered consent goes first, so that nothing is approved
// through it any more, and only then does token-service record the cut-off (end every refresh
// token family and access token of the client for this owner, and everything issued up to now).
// In the other order a grant approved through the remembered consent between the cut-off and the
// delete would outlive the revocation (finding 6). An approval that read the consent before the
// delete but issued its code after the cut-off is caught by approve-remembered.ts, which checks
// the consent again, uncached, before the code leaves; at authorize-service (answer-remembered.ts)
// such a grant starts when the consent was read, before the cut-off. Should token-service not answer, the client
// is listed again (granted, not remembered), so the owner sees the error and can try again.
import type { Audit } from '#shared/audit/publish-audit-event.ts';
import type { Clock } from '#shared/clock.ts';
import type { NatsClient } from './nats-client.ts';
import type { ConsentUiStore } from './store.ts';
import type { Session } from '#shared/signed-in/session.ts';

export type Deps = {
  nats: Pick<NatsClient, 'revokeConsent'>;
  store: Pick<ConsentUiStore, 'findConsent' | 'deleteConsent' | 'recordGrant'>;
  clock: Clock;
  audit: Audit;
};

export async function revokeAuthorization(deps: Deps, input: { session: Session; clientId: string; reqId: string }): Promise<{ revokedFamilies: number }> {
  const { session, clientId } = input;
  const consent = await deps.store.findConsent(session.sub, clientId);
  await deps.store.deleteConsent(session.sub, clientId);
  let revokedFamilies: number;
  try {
    revokedFamilies = await deps.nats.revokeConsent(session.sub, clientId, input.reqId);
  } catch (error) {
    if (consent && consent.grantedScopes.length > 0) {
      // Best effort: the owner sees the error either way; this keeps the Revoke button there.
      await deps.store.recordGrant(session.sub, clientId, consent.grantedScopes, false, deps.clock.now()).catch(() => undefined);
    }
    throw error;
  }
  await deps.audit.emit('oauth.consent.revoked', clientId, { client_id: clientId, sub: session.sub, username: session.username, count: revokedFamilies });
  return { revokedFamilies };
}
