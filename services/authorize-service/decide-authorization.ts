// The resource owner's decision (RFC 6749 §4.1.2): on approval a single-use code bound to the
// client, redirect URI, PKCE challenge, scopes, owner and sign-in time; on denial access_denied.
// The pending request is claimed by a unique insert, so a request is decided once.
import type { Audit } from '#shared/audit/publish-audit-event.ts';
import { addSeconds, type Clock } from '#shared/clock.ts';
import { randomToken, sha256 } from '#shared/crypto.ts';
import type { AuthorizeStore } from './store.ts';
import { authorizationResponseUrl } from './authorization-response.ts';
import { expiredRequest } from './describe-authorization.ts';

export type Deps = {
  store: Pick<AuthorizeStore, 'claimRequest' | 'saveCode'>;
  clock: Clock;
  audit: Audit;
  issuer: string;
  codeTtlSeconds: number;
};

export type Decision = { handle: string; approve: boolean; sub: string; username: string; authTime: Date };

export async function decideAuthorization(deps: Deps, decision: Decision): Promise<string> {
  const now = deps.clock.now();
  const request = await deps.store.claimRequest(sha256(decision.handle), decision.approve, now);
  if (!request) throw expiredRequest();
  const who = { client_id: request.clientId, sub: decision.sub, username: decision.username, scope: request.scopes.join(' ') };

  if (!decision.approve) {
    deps.audit.emit('oauth.authorization.denied', request.clientId, who);
    return authorizationResponseUrl(request.redirectUri, {
      error: 'access_denied', error_description: 'The resource owner denied the request.', state: request.state, iss: deps.issuer,
    });
  }

  // 256 bits of entropy; only the hash is stored.
  const code = randomToken(32);
  const grantId = randomToken(16);
  await deps.store.saveCode({
    _id: sha256(code),
    clientId: request.clientId,
    redirectUri: request.redirectUri,
    redirectUriSent: request.redirectUriSent,
    codeChallenge: request.codeChallenge ?? null,
    scopes: request.scopes,
    sub: decision.sub,
    username: decision.username,
    authTime: decision.authTime,
    grantId,
    createdAt: now,
    expiresAt: addSeconds(now, deps.codeTtlSeconds),
    consumedAt: null,
  });
  deps.audit.emit('oauth.authorization.approved', request.clientId, who);
  deps.audit.emit('oauth.code.issued', request.clientId, { ...who, grant_id: grantId });
  return authorizationResponseUrl(request.redirectUri, { code, state: request.state, iss: deps.issuer });
}
