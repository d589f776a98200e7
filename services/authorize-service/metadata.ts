// RFC 8414 authorization server metadata, with the real public URL of every endpoint.
import type { PublicUrls } from '#shared/config.ts';
import { DPOP_SIGNING_ALGS } from '#shared/dpop/verify-dpop-proof.ts';
import { TokenGrantTypes } from '#shared/reference-data/clients.ts';

export function authorizationServerMetadata(urls: PublicUrls, scopes: string[]) {
  return {
    issuer: urls.issuer,
    authorization_endpoint: `${urls.authorizeService}/authorize`,
    token_endpoint: `${urls.tokenService}/token`,
    jwks_uri: `${urls.tokenService}/jwks.json`,
    revocation_endpoint: `${urls.tokenService}/revoke`,
    introspection_endpoint: `${urls.tokenService}/introspect`,
    scopes_supported: scopes,
    response_types_supported: ['code'],
    response_modes_supported: ['query'],
    grant_types_supported: [...TokenGrantTypes],
    code_challenge_methods_supported: ['S256'],
    token_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post', 'none'],
    revocation_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post', 'none'],
    introspection_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post'],
    authorization_response_iss_parameter_supported: true,
    // RFC 9449 §5.1: the algorithms the token endpoint and oauth.token.validate accept in DPoP proofs.
    dpop_signing_alg_values_supported: [...DPOP_SIGNING_ALGS],
    // RFC 9126 §5: PAR is offered; clients registered with --require-par must use it. token-service
    // serves it: it authenticates clients (one owner of client authentication and its lockout).
    pushed_authorization_request_endpoint: `${urls.tokenService}/par`,
    require_pushed_authorization_requests: false,
    service_documentation: `${urls.issuer}/.well-known/oauth-authorization-server`,
  };
}
