// grant_type=client_credentials (RFC 6749 §4.4): a confidential client asks for an access token
// for itself. There is no resource owner, so no grant is stored and no refresh token is issued
// (§4.4.3 "A refresh token SHOULD NOT be included"); the token's `sub` is the client_id (RFC 9068
// §2.2 for grants without a resource owner). Nothing here writes: operators end such tokens
// through the client's cut-offs (`clients disable|delete`, `grants revoke --client`), which cover
// every token by its `iat`, and a client revokes one by its `jti` at /revoke.
import { OAuthError } from '#shared/oauth-error.ts';
import type { ClientDoc } from '#shared/reference-data/clients.ts';
import { parseRequestedScope, requireGrantType } from './grant-request.ts';
import { issueAccessToken, type IssuanceDeps, type TokenResult } from './issue-access-token.ts';
import { selectResources, type ResourceDeps } from './select-resources.ts';

export type Deps = IssuanceDeps & ResourceDeps;

export type ClientCredentialsInput = {
  /** The authenticated client. */
  client: ClientDoc;
  /** The `scope` parameter as sent; absent means every scope the client is registered for. */
  scope: string | undefined;
  /** The DPoP key of the request's proof (check-token-request-proof.ts), when it sent one: the token is bound to it. */
  jkt?: string;
  /** RFC 8707 `resource` parameters as sent: the token is for them, its scope cut to what they accept. */
  resources?: string[];
};

export async function grantClientCredentials(deps: Deps, input: ClientCredentialsInput): Promise<TokenResult> {
  const { client } = input;
  requireGrantType(client, 'client_credentials');
  // RFC 6749 §4.4: "The client credentials grant type MUST only be used by confidential clients."
  // The admin CLI never registers a public one for it; this holds even if the record says otherwise.
  if (client.type !== 'confidential') throw new OAuthError('unauthorized_client', 'The client may not use the client credentials grant.', 'public client');
  const requested = parseRequestedScope(input.scope);
  // RFC 6749 §3.3: the server may narrow a request, but a scope the client was never given is refused.
  if (requested && requested.some((s) => !client.scopes.includes(s))) {
    throw new OAuthError('invalid_scope', 'The requested scope is not allowed for this client.', 'client_credentials scope beyond the client');
  }
  // RFC 8707 §2.2: as at the other grants, an unknown or malformed resource is invalid_target, and a
  // named one becomes the token's audience (there is no authorization to stay within).
  const target = await selectResources(deps, input.resources, undefined, requested ?? client.scopes);
  const scopes = target.scopes;
  const now = deps.clock.now();
  // The grant begins now, to the millisecond: a client cut-off (disable, grants revoke --client)
  // covers the tokens issued up to it, and not one issued just after it in the same second (enabled again).
  const accessToken = issueAccessToken(deps.tokens, {
    sub: client._id, clientId: client._id, scopes, ttlSeconds: client.accessTokenTtlSeconds, grantStartedAtMs: now.getTime(), jkt: input.jkt,
    ...(target.audience ? { audience: target.audience } : {}),
  }, now);
  await deps.audit.emit('oauth.token.issued', client._id, {
    client_id: client._id, sub: client._id, scope: scopes.join(' '), jti: accessToken.jti, grant_type: 'client_credentials',
    ...(target.audience ? { resource: target.audience } : {}),
  });
  return { accessToken: accessToken.token, expiresIn: accessToken.expiresIn, scopes, ...(input.jkt !== undefined ? { jkt: input.jkt } : {}) };
}
