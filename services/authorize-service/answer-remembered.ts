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
// Finding 6 (a grant approved during the owner's Revoke must not outlive it): the consent read may
// be older than the Revoke (the read cache, or a read in flight while the consent was deleted). So
// the grant starts when that read was sent, not when the code is made: a consent only grows until
// it is deleted, so one that covered the request then was deleted, if at all, after that time, and
// the cut-off the Revoke records after the delete covers this grant. No second read is needed, which
// was one database command per authorization. The consent-ui change and the revocation broadcasts
// drop reads from before a cut-off (main.ts); should both be lost, a code approved by such a read
// can still leave for up to HOT_READ_CACHE_MS, and the token endpoint refuses it. (consent-ui, whose
// decisions authorize-service times, reads again: approve-remembered.ts.)
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
  owners: Pick<OwnerRecordReads, 'findSession' | 'findConsentAsOf'>;
  findUser: FindUser;
  clock: Clock;
  audit: Audit;
  code: CodeDeps;
};

/** The redirect to the client with a code, when the session and its remembered consent approve `request`; else undefined. */
export async function answerRemembered(deps: Deps, request: AuthorizationRequest, sessionCookie: string | undefined): Promise<string | undefined> {
  const session = await readSession({ store: deps.owners, clock: deps.clock, findUser: deps.findUser }, sessionCookie);
  if (!session) return undefined;
  const { consent, readAt } = await deps.owners.findConsentAsOf(session.sub, request.clientId, deps.clock.now());
  if (!consentCovers(consent, 'scopes', request.scopes) || !consentCovers(consent, 'grantedScopes', request.scopes)) return undefined;
  const decidedAt = deps.clock.now();
  const grantId = randomIdentifier(16);
  const redirectTo = codeRedirect(deps.code, request, session, grantId, decidedAt, readAt);
  // Announced only once the code is made: should anything before fail, consent-ui answers instead, and announces.
  await Promise.all([auditRequested(deps.audit, request), announceApproval(deps.audit, request, session, grantId, decidedAt)]);
  return redirectTo;
}
