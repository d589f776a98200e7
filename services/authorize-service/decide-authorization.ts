// The resource owner's decision (RFC 6749 §4.1.2): on approval a single-use code bound to the
// client, redirect URI, PKCE challenge, scopes, owner and sign-in time; on denial access_denied.
// The request is decided by a unique insert, so it is decided once. The same decision sent again
// (an internal request retried after a lost reply, a double click) gets the same outcome: the
// redirect for the same grant (a code for it sealed anew; one redemption per grant), after its audit
// events are sent again: the process that decided first may have died before they were safe. They
// carry the first ones' ids and time, so JetStream's duplicate window and auditors keep one of each.
// Another decision, or the same one by someone else, is refused as already answered.
import type { Audit } from '#shared/audit/publish-audit-event.ts';
import type { Clock } from '#shared/clock.ts';
import { randomIdentifier } from '#shared/crypto.ts';
import type { AuthorizationCodes } from '#shared/grants/authorization-codes.ts';
import type { ClientDoc } from '#shared/reference-data/clients.ts';
import type { AuthorizeStore, RecordedDecision } from './store.ts';
import type { AuthorizationRequests, PendingRequest } from '#shared/grants/authorization-requests.ts';
import { authorizationResponseUrl } from './authorization-response.ts';
import { openRequest, unknownRequest } from '#shared/grants/describe-request.ts';
import { announceApproval, announceDenial, codeRedirect } from './issue-code.ts';

export type Deps = {
  store: Pick<AuthorizeStore, 'claimDecision' | 'findDecision'>;
  requests: AuthorizationRequests;
  codes: AuthorizationCodes;
  clock: Clock;
  audit: Audit;
  issuer: string;
  codeTtlSeconds: number;
  /**
   * The client as the reference data has it now: a request whose client was deleted or disabled
   * since it began, or no longer covers its redirect URI or scopes, is not answered at all.
   */
  findClient(id: string): Promise<Pick<ClientDoc, 'disabled' | 'redirectUris' | 'scopes'> | undefined>;
};

export type Decision = { handle: string; approve: boolean; sub: string; username: string; authTime: Date };

/**
 * Where to send the browser, and what was decided on (the request's client and scopes); on approval
 * the grant and when it was decided, the same for the same decision sent again.
 */
export type DecisionOutcome = { redirectTo: string; clientId: string; scopes: string[]; approved?: { grantId: string; decidedAt: Date } };

export async function decideAuthorization(deps: Deps, decision: Decision): Promise<DecisionOutcome> {
  const now = deps.clock.now();
  const request = openRequest(deps, decision.handle);
  // A denial too: its access_denied goes back only to a redirect URI still registered (RFC 6749 §4.1.2.1).
  if (!stillRegistered(request, await deps.findClient(request.clientId))) throw unknownRequest();
  const grantId = decision.approve ? randomIdentifier(16) : undefined;
  const recorded = { approved: decision.approve, sub: decision.sub, ...(grantId ? { grantId } : {}) };
  if (!(await deps.store.claimDecision(request.id, recorded, now, request.expiresAt))) {
    return sameOutcomeAgain(deps, request, decision, await deps.store.findDecision(request.id));
  }
  await announceDecision(deps, request, decision, grantId, now);
  return outcome(deps, request, decision, grantId, now);
}

/** The outcome of a decision already recorded, when this one is the same decision by the same owner; else refused. */
async function sameOutcomeAgain(deps: Deps, request: PendingRequest, decision: Decision, recorded: RecordedDecision | undefined): Promise<DecisionOutcome> {
  const same = recorded !== undefined && recorded.sub === decision.sub && recorded.approved === decision.approve
    && (recorded.grantId !== undefined) === decision.approve;
  if (!same) throw unknownRequest();
  await announceDecision(deps, request, decision, recorded.grantId, recorded.decidedAt);
  return outcome(deps, request, decision, recorded.grantId, recorded.decidedAt);
}

function announceDecision(deps: Deps, request: PendingRequest, decision: Decision, grantId: string | undefined, decidedAt: Date): Promise<void> {
  return grantId ? announceApproval(deps.audit, request, decision, grantId, decidedAt) : announceDenial(deps.audit, request, decision, decidedAt);
}

/** The redirect for a decision: a code for grant `grantId` (issued at `decidedAt`), or access_denied without one. */
function outcome(deps: Deps, request: PendingRequest, decision: Decision, grantId: string | undefined, decidedAt: Date): DecisionOutcome {
  const decided = { clientId: request.clientId, scopes: request.scopes };
  if (!grantId) {
    const redirectTo = authorizationResponseUrl(request.redirectUri, {
      error: 'access_denied', error_description: 'The resource owner denied the request.', state: request.state, iss: deps.issuer,
    });
    return { redirectTo, ...decided };
  }
  return { redirectTo: codeRedirect(deps, request, decision, grantId, decidedAt), ...decided, approved: { grantId, decidedAt } };
}

/**
 * The request as its client is registered now. The handle was checked when the request began; this
 * also holds against a registration changed since, and against a handle sealed by any other holder
 * of the key (consent-ui reads handles with it): no code for an unregistered redirect URI or scope.
 */
function stillRegistered(request: PendingRequest, client: Pick<ClientDoc, 'disabled' | 'redirectUris' | 'scopes'> | undefined): boolean {
  if (!client || client.disabled === true || !client.redirectUris.includes(request.redirectUri)) return false;
  const registered = new Set(client.scopes);
  return request.scopes.every((scope) => registered.has(scope));
}
