// The code for an approved authorization request, and the events that announce the approval: one
// way for both paths that approve (a decision from consent-ui, decide-authorization.ts; a
// remembered consent answered here at once, answer-remembered.ts).
import type { Audit } from '#shared/audit/publish-audit-event.ts';
import { addSeconds, epochSeconds } from '#shared/clock.ts';
import type { AuthorizationCodes } from '#shared/grants/authorization-codes.ts';
import type { AuthorizationRequest, PendingRequest } from '#shared/grants/authorization-requests.ts';
import { authorizationResponseUrl } from './authorization-response.ts';

export type CodeDeps = { codes: AuthorizationCodes; issuer: string; codeTtlSeconds: number };

/** Who approved: the owner's subject, username and sign-in time. */
export type Approver = { sub: string; username: string; authTime: Date };

/**
 * The redirect to the client with a new code for grant `grantId`, approved by `owner` at `decidedAt`.
 * `grantStartedAt` (no later than `decidedAt`) is what revocations compare with: when the consent
 * that approved it was known to stand (answer-remembered.ts), else the decision itself.
 */
export function codeRedirect(
  deps: CodeDeps, request: AuthorizationRequest, owner: Approver, grantId: string, decidedAt: Date, grantStartedAt = decidedAt,
): string {
  const code = deps.codes.seal({
    grantId,
    clientId: request.clientId,
    redirectUri: request.redirectUri,
    redirectUriSent: request.redirectUriSent,
    codeChallenge: request.codeChallenge ?? null,
    scopes: request.scopes,
    sub: owner.sub,
    username: owner.username,
    authTime: epochSeconds(owner.authTime),
    issuedAt: Math.min(grantStartedAt.getTime(), decidedAt.getTime()),
    ...(request.resources ? { resources: request.resources } : {}),
  }, addSeconds(decidedAt, deps.codeTtlSeconds));
  return authorizationResponseUrl(request.redirectUri, { code, state: request.state, iss: deps.issuer });
}

/** What the approval and code events say: the client, the owner and the scope. */
const whoDecided = (request: AuthorizationRequest, owner: Pick<Approver, 'sub' | 'username'>) =>
  ({ client_id: request.clientId, sub: owner.sub, username: owner.username, scope: request.scopes.join(' ') });

/**
 * oauth.authorization.approved and oauth.code.issued (never the code itself) for grant `grantId`,
 * approved at `decidedAt`; settles when both are safe. Their ids and time follow from the grant:
 * announced again, JetStream and auditors keep one of each.
 */
export async function announceApproval(audit: Audit, request: AuthorizationRequest, owner: Pick<Approver, 'sub' | 'username'>, grantId: string, decidedAt: Date): Promise<void> {
  const who = whoDecided(request, owner);
  const once = { key: grantId, at: decidedAt };
  await Promise.all([
    audit.emit('oauth.authorization.approved', request.clientId, who, once),
    audit.emit('oauth.code.issued', request.clientId, { ...who, grant_id: grantId }, once),
  ]);
}

/** oauth.authorization.denied for `request`, denied at `decidedAt`; its id and time follow from the request, as above. */
export async function announceDenial(audit: Audit, request: PendingRequest, owner: Pick<Approver, 'sub' | 'username'>, decidedAt: Date): Promise<void> {
  await audit.emit('oauth.authorization.denied', request.clientId, whoDecided(request, owner), { key: request.id, at: decidedAt });
}
