// The resource owner's decision (RFC 6749 §4.1.2): on approval a single-use code bound to the
// client, redirect URI, PKCE challenge, scopes, owner and sign-in time; on denial access_denied.
// The request is decided by a unique insert, so it is decided once.
import type { Audit } from '#shared/audit/publish-audit-event.ts';
import { addSeconds, epochSeconds, type Clock } from '#shared/clock.ts';
import { randomToken } from '#shared/crypto.ts';
import type { AuthorizationCodes } from '#shared/grants/authorization-codes.ts';
import type { AuthorizeStore } from './store.ts';
import type { AuthorizationRequests, PendingRequest } from './authorization-requests.ts';
import { authorizationResponseUrl } from './authorization-response.ts';
import { expiredRequest, openRequest } from './describe-authorization.ts';

export type Deps = {
  store: Pick<AuthorizeStore, 'claimDecision'>;
  requests: AuthorizationRequests;
  codes: AuthorizationCodes;
  clock: Clock;
  audit: Audit;
  issuer: string;
  codeTtlSeconds: number;
  /** The client as the reference data has it now: one deleted or disabled since the request began gets no code. */
  findClient(id: string): Promise<{ disabled?: boolean } | undefined>;
};

export type Decision = { handle: string; approve: boolean; sub: string; username: string; authTime: Date };

/** Where to send the browser, and what was decided on (the request's client and scopes). */
export type DecisionOutcome = { redirectTo: string; clientId: string; scopes: string[] };

export async function decideAuthorization(deps: Deps, decision: Decision): Promise<DecisionOutcome> {
  const now = deps.clock.now();
  const request = openRequest(deps, decision.handle);
  if (decision.approve) {
    const client = await deps.findClient(request.clientId);
    if (!client || client.disabled === true) throw expiredRequest();
  }
  if (!(await deps.store.claimDecision(request.id, decision.approve, now, request.expiresAt))) throw expiredRequest();
  const who = whoDecided(request, decision);
  const decided = { clientId: request.clientId, scopes: request.scopes };

  if (!decision.approve) {
    deps.audit.emit('oauth.authorization.denied', request.clientId, who);
    const redirectTo = authorizationResponseUrl(request.redirectUri, {
      error: 'access_denied', error_description: 'The resource owner denied the request.', state: request.state, iss: deps.issuer,
    });
    return { redirectTo, ...decided };
  }

  const grantId = randomToken(16);
  const code = deps.codes.seal({
    grantId,
    clientId: request.clientId,
    redirectUri: request.redirectUri,
    redirectUriSent: request.redirectUriSent,
    codeChallenge: request.codeChallenge ?? null,
    scopes: request.scopes,
    sub: decision.sub,
    username: decision.username,
    authTime: epochSeconds(decision.authTime),
    issuedAt: now.getTime(),
  }, addSeconds(now, deps.codeTtlSeconds));
  deps.audit.emit('oauth.authorization.approved', request.clientId, who);
  deps.audit.emit('oauth.code.issued', request.clientId, { ...who, grant_id: grantId });
  return { redirectTo: authorizationResponseUrl(request.redirectUri, { code, state: request.state, iss: deps.issuer }), ...decided };
}

const whoDecided = (request: PendingRequest, decision: Decision) =>
  ({ client_id: request.clientId, sub: decision.sub, username: decision.username, scope: request.scopes.join(' ') });
