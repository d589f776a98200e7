// RFC 6749 §4.1.1 + RFC 7636 §4.3: checks an authorization request. client_id and redirect_uri are
// checked first; until both are known good, errors are shown to the owner and never redirected
// (§4.1.2.1: an open redirector otherwise). After that, errors go back to the client.
import { OAuthError } from '#shared/oauth-error.ts';
import type { ClientDoc } from '#shared/reference-data/clients.ts';
import { parseScopeParameter } from '#shared/reference-data/scopes.ts';
import { invalidTarget, resolveResources, scopesAccepted, type ResourceServerDoc } from '#shared/reference-data/resource-servers.ts';
import type { AuthorizationRequest } from '#shared/grants/authorization-requests.ts';

export type RawQuery = Record<string, string | string[] | undefined>;

export type Deps = {
  findClient(id: string): Promise<ClientDoc | undefined>;
  /** Whether the scope is registered; one announced a moment ago counts (ReferenceCache.findScope). */
  scopeExists(name: string): Promise<boolean>;
  /** A registered resource server (RFC 8707), from the cache (ReferenceCache.findResourceServer). */
  resourceServer(uri: string): Promise<ResourceServerDoc | undefined>;
};

/** How the request arrived: from a pushed authorization request (RFC 9126), or in the query of /authorize. */
export type RequestOptions = { pushed?: boolean };

export type ValidationResult =
  | { kind: 'show-error'; description: string }
  | { kind: 'redirect-error'; redirectUri: string; state: string | undefined; error: OAuthError }
  | { kind: 'valid'; request: AuthorizationRequest; client: ClientDoc };

const MAX_STATE_LENGTH = 2048;
const CODE_CHALLENGE = /^[A-Za-z0-9_-]{43}$/; // base64url of a SHA-256 digest (RFC 7636 §4.2)

/** Parameters that may be repeated (RFC 8707 §2: `resource` names one resource server per occurrence). */
const REPEATABLE = new Set(['resource']);

export async function validateAuthorizationRequest(deps: Deps, query: RawQuery, options: RequestOptions = {}): Promise<ValidationResult> {
  const clientId = query.client_id;
  if (typeof clientId !== 'string' || clientId === '') return showError('The request does not name a client, or names more than one.');
  const client = await deps.findClient(clientId);
  // A disabled client (oauth-admin clients disable) gets the same page as an unknown one.
  if (!client || client.disabled === true) return showError('The client is not known.');

  const sentRedirectUri = query.redirect_uri;
  if (Array.isArray(sentRedirectUri)) return showError('The request has more than one redirect URI.');
  let redirectUri: string;
  if (sentRedirectUri === undefined) {
    // RFC 6749 §3.1.2.3: may be left out only when exactly one URI is registered.
    if (client.redirectUris.length !== 1) return showError("The request must name one of the client's redirect URIs.");
    redirectUri = client.redirectUris[0]!;
  } else if (client.redirectUris.includes(sentRedirectUri)) {
    // Exact string comparison (RFC 9700 §4.1.3): no normalisation, no port or path variation.
    redirectUri = sentRedirectUri;
  } else {
    return showError('The redirect URI is not registered for this client.');
  }

  const state = typeof query.state === 'string' && query.state.length <= MAX_STATE_LENGTH ? query.state : undefined;
  const fail = (error: OAuthError): ValidationResult => ({ kind: 'redirect-error', redirectUri, state, error });

  // RFC 6749 §3.1: request parameters must not be included more than once.
  for (const [name, value] of Object.entries(query)) {
    if (Array.isArray(value) && !REPEATABLE.has(name)) return fail(new OAuthError('invalid_request', 'A request parameter is repeated.', `repeated ${name}`));
  }
  if (typeof query.state === 'string' && state === undefined) return fail(new OAuthError('invalid_request', 'The state parameter is too long.'));

  const responseType = query.response_type as string | undefined;
  if (responseType === undefined) return fail(new OAuthError('invalid_request', 'The response_type parameter is missing.'));
  if (responseType !== 'code') return fail(new OAuthError('unsupported_response_type', 'Only response_type=code is supported.'));
  if (!client.grantTypes.includes('authorization_code')) {
    return fail(new OAuthError('unauthorized_client', 'The client may not use the authorization code grant.'));
  }
  // RFC 9126 §6: a client registered to require PAR may not send its parameters in the query.
  if (client.requirePar === true && options.pushed !== true) {
    return fail(new OAuthError('invalid_request', 'This client must push its authorization requests (PAR).', 'request without request_uri'));
  }

  const codeChallenge = query.code_challenge as string | undefined;
  const pkceProblem = checkPkce(client, codeChallenge, query.code_challenge_method as string | undefined);
  if (pkceProblem) return fail(pkceProblem);
  const scopes = await checkScopes(deps, client, query.scope as string | undefined);
  if (scopes instanceof OAuthError) return fail(scopes);
  const resources = await checkResources(deps, query.resource, scopes);
  if (resources instanceof OAuthError) return fail(resources);

  return {
    kind: 'valid',
    client,
    request: {
      clientId: client._id, redirectUri, redirectUriSent: sentRedirectUri !== undefined, scopes, state, codeChallenge,
      ...(resources ? { resources } : {}),
    },
  };
}

/** RFC 7636 §4.3 and RFC 9700 §2.1.1: the PKCE parameters' problem, or undefined. */
function checkPkce(client: ClientDoc, codeChallenge: string | undefined, method: string | undefined): OAuthError | undefined {
  if (codeChallenge === undefined) {
    if (method !== undefined) return new OAuthError('invalid_request', 'code_challenge_method was sent without code_challenge.');
    // RFC 9700 §2.1.1: public clients must use PKCE.
    if (client.type === 'public') return new OAuthError('invalid_request', 'Public clients must send a PKCE code_challenge.');
    return undefined;
  }
  // RFC 7636 §4.3 defaults the method to "plain"; plain is refused (RFC 9700 §2.1.1), so S256 must be named.
  if (method !== 'S256') return new OAuthError('invalid_request', 'code_challenge_method must be S256.');
  if (!CODE_CHALLENGE.test(codeChallenge)) return new OAuthError('invalid_request', 'The code_challenge is malformed.');
  return undefined;
}

/** The requested scopes, each one the client may ask for, or the invalid_scope error. */
async function checkScopes(deps: Deps, client: ClientDoc, scope: string | undefined): Promise<string[] | OAuthError> {
  const scopes = parseScopeParameter(scope) ?? [];
  if (scopes === 'invalid') return new OAuthError('invalid_scope', 'The scope parameter is malformed.');
  if (scopes.length === 0) return new OAuthError('invalid_scope', 'The request must name at least one scope.');
  for (const name of scopes) {
    if (!client.scopes.includes(name) || !(await deps.scopeExists(name))) {
      return new OAuthError('invalid_scope', 'The client may not ask for one of the requested scopes.', `scope not allowed: ${name}`);
    }
  }
  return scopes;
}

/**
 * RFC 8707 §2: the `resource` parameters, each a registered resource server, or invalid_target. A
 * request whose resources accept none of its scopes could only lead to a token good for nothing.
 */
async function checkResources(deps: Deps, sent: string | string[] | undefined, scopes: string[]): Promise<string[] | undefined | OAuthError> {
  try {
    const servers = await resolveResources(sent, (uri) => deps.resourceServer(uri));
    if (!servers) return undefined;
    if (scopesAccepted(scopes, servers).length === 0) return invalidTarget('the resources accept none of the requested scopes');
    return servers.map((server) => server._id);
  } catch (error) {
    if (error instanceof OAuthError) return error;
    throw error;
  }
}

const showError = (description: string): ValidationResult => ({ kind: 'show-error', description });
