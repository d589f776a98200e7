// The resource owner's decision (RFC 6749 §4.1.2): on approval a single-use code bound to the
// client, redirect URI, PKCE challenge, scopes, owner and sign-in time; on denial access_denied.
// The pending request is claimed by a unique insert, so a request is decided once.
import type { Audit } from '#shared/audit/publish-audit-event.ts';
import { addSeconds, type Clock } from '#shared/clock.ts';
import { randomToken, sha256 } from '#shared/crypto.ts';
import type { AuthorizationRequest, AuthorizeStore } from './store.ts';
import { authorizationResponseUrl } from './authorization-response.ts';
import { expiredRequest } from './describe-authorization.ts';

export type Deps = {
  store: Pick<AuthorizeStore, 'findRequest' | 'claimRequest' | 'saveCode'>;
  clock: Clock;
  audit: Audit;
  issuer: string;
  codeTtlSeconds: number;
};

export type Decision = { handle: string; approve: boolean; sub: string; username: string; authTime: Date };

export async function decideAuthorization(deps: Deps, decision: Decision): Promise<string> {
  const now = deps.clock.now();
  const handleHash = sha256(decision.handle);

  if (!decision.approve) {
    const request = await deps.store.claimRequest(handleHash, false, now);
    if (!request) throw expiredRequest();
    deps.audit.emit('oauth.authorization.denied', request.clientId, whoDecided(request, decision));
    return authorizationResponseUrl(request.redirectUri, {
      error: 'access_denied', error_description: 'The resource owner denied the request.', state: request.state, iss: deps.issuer,
    });
  }

  const pending = await deps.store.findRequest(handleHash, now);
  if (!pending) throw expiredRequest();
  // 256 bits of entropy; only the hash is stored.
  const code = randomToken(32);
  const grantId = randomToken(16);
  // The code is stored while the decision is claimed (one round trip, not two). Should the claim
  // be lost to another decision, the code stays unknown to anyone and simply expires.
  const [request] = await Promise.all([
    deps.store.claimRequest(handleHash, true, now),
    deps.store.saveCode({
      _id: sha256(code),
      clientId: pending.clientId,
      redirectUri: pending.redirectUri,
      redirectUriSent: pending.redirectUriSent,
      codeChallenge: pending.codeChallenge ?? null,
      scopes: pending.scopes,
      sub: decision.sub,
      username: decision.username,
      authTime: decision.authTime,
      grantId,
      createdAt: now,
      expiresAt: addSeconds(now, deps.codeTtlSeconds),
      consumedAt: null,
    }),
  ]);
  if (!request) throw expiredRequest();
  const who = whoDecided(request, decision);
  deps.audit.emit('oauth.authorization.approved', request.clientId, who);
  deps.audit.emit('oauth.code.issued', request.clientId, { ...who, grant_id: grantId });
  return authorizationResponseUrl(request.redirectUri, { code, state: request.state, iss: deps.issuer });
}

const whoDecided = (request: AuthorizationRequest, decision: Decision) =>
  ({ client_id: request.clientId, sub: decision.sub, username: decision.username, scope: request.scopes.join(' ') });
