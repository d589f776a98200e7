// The owner's answer on the consent page. Allow: the decision goes to authorize-service (which
// issues the code), the grant is recorded for "Your authorizations", and with "Remember this
// decision" the scopes join the remembered consent. Deny: access_denied goes back to the client.
import type { Audit } from '#shared/audit/publish-audit-event.ts';
import type { Clock } from '#shared/clock.ts';
import type { NatsClient } from './nats-client.ts';
import type { ConsentUiStore } from './store.ts';
import type { Session } from '#shared/signed-in/session.ts';
import type { RequestDescriber } from './request-descriptions.ts';

export type Deps = {
  nats: Pick<NatsClient, 'decideAuthorization'>;
  /** Asked only when authorize-service's decision does not name the client and scopes (an earlier version). */
  requests: RequestDescriber;
  store: Pick<ConsentUiStore, 'recordGrant'>;
  clock: Clock;
  audit: Audit;
};

export type ConsentInput = { handle: string; session: Session; approve: boolean; remember: boolean; reqId: string };

/** Returns where to send the browser (the client's redirect URI with a code or an error). */
export async function decideConsent(deps: Deps, input: ConsentInput): Promise<string> {
  const { session } = input;
  const decision = { handle: input.handle, sub: session.sub, username: session.username, authTime: session.authTime };
  const decided = await deps.nats.decideAuthorization({ ...decision, approve: input.approve }, input.reqId);
  if (!input.approve) return decided.redirectTo;

  // The client and scopes are those of the request decided, never from the form.
  const { clientId, scopes } = decided.clientId && decided.scopes
    ? { clientId: decided.clientId, scopes: decided.scopes }
    : await describedRequest(deps, input);
  await deps.store.recordGrant(session.sub, clientId, scopes, input.remember, deps.clock.now());
  if (input.remember) {
    // The same decision sent again (a double click) is the same consent: one event id and time,
    // from its grant, so JetStream's duplicate window and auditors keep one copy.
    const once = decided.approved ? { key: decided.approved.grantId, at: decided.approved.decidedAt } : undefined;
    await deps.audit.emit('oauth.consent.granted', clientId, { client_id: clientId, sub: session.sub, username: session.username, scope: scopes.join(' ') }, once);
  }
  return decided.redirectTo;
}

async function describedRequest(deps: Deps, input: ConsentInput): Promise<{ clientId: string; scopes: string[] }> {
  const request = await deps.requests.describe(input.handle);
  return { clientId: request.clientId, scopes: request.scopes.map((s) => s.name) };
}
