// The owner's answer on the consent page. Allow: the decision goes to authorize-service (which
// issues the code), the grant is recorded for "Your authorizations", and with "Remember this
// decision" the scopes join the remembered consent. Deny: access_denied goes back to the client.
import type { Audit } from '#shared/audit/publish-audit-event.ts';
import type { Clock } from '#shared/clock.ts';
import type { NatsClient } from './nats-client.ts';
import type { ConsentUiStore } from './store.ts';
import type { Session } from './session.ts';

export type Deps = {
  nats: Pick<NatsClient, 'describeAuthorization' | 'decideAuthorization'>;
  store: Pick<ConsentUiStore, 'recordGrant'>;
  clock: Clock;
  audit: Audit;
};

export type ConsentInput = { handle: string; session: Session; approve: boolean; remember: boolean; reqId: string };

/** Returns where to send the browser (the client's redirect URI with a code or an error). */
export async function decideConsent(deps: Deps, input: ConsentInput): Promise<string> {
  const { session } = input;
  const decision = { handle: input.handle, sub: session.sub, username: session.username, authTime: session.authTime };
  if (!input.approve) return deps.nats.decideAuthorization({ ...decision, approve: false }, input.reqId);

  // The scopes come from the pending request itself, never from the form.
  const request = await deps.nats.describeAuthorization(input.handle, input.reqId);
  const redirectTo = await deps.nats.decideAuthorization({ ...decision, approve: true }, input.reqId);
  const scopes = request.scopes.map((s) => s.name);
  await deps.store.recordGrant(session.sub, request.clientId, scopes, input.remember, deps.clock.now());
  if (input.remember) {
    deps.audit.emit('oauth.consent.granted', request.clientId, { client_id: request.clientId, sub: session.sub, username: session.username, scope: scopes.join(' ') });
  }
  return redirectTo;
}
