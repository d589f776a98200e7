// A remembered consent that covers every requested scope approves the request without asking:
// after sign-in and whenever a signed-in owner arrives with a new request.
import type { Clock } from '#shared/clock.ts';
import type { AuthorizationDescription, NatsClient } from './nats-client.ts';
import type { ConsentDoc, ConsentUiStore } from './store.ts';
import type { Session } from './session.ts';

export type Deps = {
  nats: Pick<NatsClient, 'decideAuthorization'>;
  store: Pick<ConsentUiStore, 'findConsent' | 'recordGrant'>;
  clock: Clock;
};

export type RememberedInput = { handle: string; session: Session; request: AuthorizationDescription; reqId: string };

const covers = (consent: ConsentDoc, request: AuthorizationDescription) => {
  const remembered = new Set(consent.scopes);
  return request.scopes.every((scope) => remembered.has(scope.name));
};

/** Where to send the browser when a remembered consent approved the request; undefined when the owner must decide. */
export async function approveRemembered(deps: Deps, input: RememberedInput): Promise<string | undefined> {
  const { session, request } = input;
  const consent = await deps.store.findConsent(session.sub, request.clientId);
  // Without the time it was given, a consent cannot be tied to its withdrawal: the owner is asked.
  if (!consent || !(consent.updatedAt instanceof Date) || !covers(consent, request)) return undefined;
  // Finding 6: this read may be older than an owner's Revoke (the read cache, or a read in flight
  // while the consent was deleted), and then the code may postdate the Revoke's cut-off. So the code
  // carries when the consent was last given: the consent was written before the Revoke deleted it,
  // and so before the cut-off, which therefore covers the grant and every token of it.
  const decided = await deps.nats.decideAuthorization(
    { handle: input.handle, approve: true, sub: session.sub, username: session.username, authTime: session.authTime, consentedAt: consent.updatedAt },
    input.reqId,
  );
  // The grant is recorded for "Your authorizations"; a remembered consent usually has it already,
  // and then there is nothing to write.
  const granted = new Set(consent.grantedScopes);
  if (!request.scopes.every((scope) => granted.has(scope.name))) {
    await deps.store.recordGrant(session.sub, request.clientId, request.scopes.map((s) => s.name), false, deps.clock.now());
  }
  return decided.redirectTo;
}
