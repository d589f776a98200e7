// A remembered consent that covers every requested scope approves the request without asking:
// after sign-in and whenever a signed-in owner arrives with a new request.
import type { Clock } from '#shared/clock.ts';
import { OAuthError } from '#shared/oauth-error.ts';
import type { NatsClient } from './nats-client.ts';
import type { AuthorizationDescription } from './request-descriptions.ts';
import type { ConsentUiStore } from './store.ts';
import { consentCovers } from '#shared/signed-in/records.ts';
import type { Session } from '#shared/signed-in/session.ts';

export type Deps = {
  nats: Pick<NatsClient, 'decideAuthorization'>;
  store: Pick<ConsentUiStore, 'findConsent' | 'findConsentUncached' | 'recordGrant'>;
  clock: Clock;
};

export type RememberedInput = { handle: string; session: Session; request: AuthorizationDescription; reqId: string };

/** Where to send the browser when a remembered consent approved the request; undefined when the owner must decide. */
export async function approveRemembered(deps: Deps, input: RememberedInput): Promise<string | undefined> {
  const { session, request } = input;
  const scopes = request.scopes.map((scope) => scope.name);
  const consent = await deps.store.findConsent(session.sub, request.clientId);
  if (!consentCovers(consent, 'scopes', scopes)) return undefined;
  const decided = await deps.nats.decideAuthorization(
    { handle: input.handle, approve: true, sub: session.sub, username: session.username, authTime: session.authTime },
    input.reqId,
  );
  // Finding 6: the consent read above may be older than an owner's Revoke (the read cache, or a
  // read in flight while the consent was deleted), and then the code just issued may postdate the
  // revocation's cut-off. Read again from the database: still there, the Revoke that deletes it
  // has yet to record its cut-off, which will cover this code; gone, the code never leaves here.
  if (!consentCovers(await deps.store.findConsentUncached(session.sub, request.clientId), 'scopes', scopes)) {
    throw new OAuthError('invalid_request', 'The request was answered while its remembered consent was withdrawn.', 'remembered consent withdrawn');
  }
  // The grant is recorded for "Your authorizations"; a remembered consent usually has it already,
  // and then there is nothing to write.
  if (!consentCovers(consent, 'grantedScopes', scopes)) {
    await deps.store.recordGrant(session.sub, request.clientId, scopes, false, deps.clock.now());
  }
  return decided.redirectTo;
}
