// A signed-in owner whose remembered consent already covers a request gets the code in the answer
// to GET /authorize itself, as consent-ui's page would have given it one redirect later
// (services/consent-ui/approve-remembered.ts): the browser saves a round trip to consent-ui, and the
// system a NATS request and a decision record. It applies only where consent-ui's session cookie
// reaches this service by design: both on the same scheme and host (ports aside, as browsers send
// cookies). Anything short of a plain yes goes on to consent-ui as before: no session, a consent
// that does not cover the request, or a grant still to be recorded for "Your authorizations"
// (consent-ui writes that record).
//
// No decision is recorded: the request was never handed out, so nothing else can decide it.
// Finding 6 holds as at consent-ui: the consent read may be older than an owner's Revoke (the read
// cache, or a read in flight while the consent was deleted), so once the code's time is fixed the
// consent is read again from the database. Still there, the Revoke that deletes it has yet to
// record its cut-off, which will cover this code; gone, no code leaves and consent-ui asks.
import type { Audit } from '#shared/audit/publish-audit-event.ts';
import type { Clock } from '#shared/clock.ts';
import { randomIdentifier } from '#shared/crypto.ts';
import type { AuthorizationRequest } from '#shared/grants/authorization-requests.ts';
import { consentCovers, type OwnerRecordReads } from '#shared/signed-in/records.ts';
import { readSession } from '#shared/signed-in/session.ts';
import type { FindUser } from '#shared/signed-in/user-access.ts';
import { announceApproval, codeRedirect, type CodeDeps } from './issue-code.ts';
import { auditRequested } from './start-authorization.ts';

export type Deps = {
  owners: OwnerRecordReads;
  findUser: FindUser;
  clock: Clock;
  audit: Audit;
  code: CodeDeps;
};

/** The redirect to the client with a code, when the session and its remembered consent approve `request`; else undefined. */
export async function answerRemembered(deps: Deps, request: AuthorizationRequest, sessionCookie: string | undefined): Promise<string | undefined> {
  const session = await readSession({ store: deps.owners, clock: deps.clock, findUser: deps.findUser }, sessionCookie);
  if (!session) return undefined;
  const consent = await deps.owners.findConsent(session.sub, request.clientId);
  if (!consentCovers(consent, 'scopes', request.scopes) || !consentCovers(consent, 'grantedScopes', request.scopes)) return undefined;
  const decidedAt = deps.clock.now();
  if (!consentCovers(await deps.owners.findConsentUncached(session.sub, request.clientId), 'scopes', request.scopes)) return undefined;
  const grantId = randomIdentifier(16);
  const redirectTo = codeRedirect(deps.code, request, session, grantId, decidedAt);
  // Announced only once the code is made: should anything before fail, consent-ui answers instead, and announces.
  await Promise.all([auditRequested(deps.audit, request), announceApproval(deps.audit, request, session, grantId, decidedAt)]);
  return redirectTo;
}
