// What every grant at the token endpoint checks first (RFC 6749 §5.2): the client may use the
// grant type, and the grant's own parameter is present.
import { OAuthError } from '#shared/oauth-error.ts';
import type { ClientDoc } from '#shared/reference-data/clients.ts';
import { parseScopeParameter } from '#shared/reference-data/scopes.ts';

type GrantType = ClientDoc['grantTypes'][number];

const GRANT_NAMES: Record<GrantType, string> = { authorization_code: 'authorization code', refresh_token: 'refresh token',
  client_credentials: 'client credentials',
};

/** The grant's own parameter, once the client is known to be registered for the grant type. */
export function grantParameter<T>(client: ClientDoc, grantType: GrantType, value: T | undefined, name: string): T {
  requireGrantType(client, grantType);
  return requireParameter(value, name);
}

/** unauthorized_client unless the client is registered for `grantType`. */
export function requireGrantType(client: ClientDoc, grantType: GrantType): void {
  if (!client.grantTypes.includes(grantType)) {
    throw new OAuthError('unauthorized_client', `The client may not use the ${GRANT_NAMES[grantType]} grant.`);
  }
}

/** invalid_request when the grant's parameter (`code`, `refresh_token`) was not sent. */
export function requireParameter<T>(value: T | undefined, name: string): T {
  if (value === undefined) throw new OAuthError('invalid_request', `The ${name} parameter is missing.`);
  return value;
}

/** RFC 6749 §3.3 scope parameter; undefined when absent. An empty or malformed one is invalid_scope. */
export function parseRequestedScope(scope: string | undefined): string[] | undefined {
  const parsed = parseScopeParameter(scope);
  if (parsed === 'invalid') throw new OAuthError('invalid_scope', 'The scope parameter is malformed.', 'malformed scope parameter');
  return parsed;
}
