// HTTP edge of token-service: the token endpoint (RFC 6749 §3.2), revocation (RFC 7009),
// introspection (RFC 7662) and JWKS. The back-channel endpoints share one way in and out
// (shared/http/back-channel.ts): form bodies only, repeated parameters refused (RFC 6749 §3.1),
// errors as RFC 6749 §5.2 JSON, never cached. Pushed authorization requests (RFC 9126) too, in a
// scope of their own (registerParRoute).
import type { FastifyInstance } from 'fastify';
import { MAX_SEALED_LENGTH } from '#shared/grants/sealed-state.ts';
import { Type } from '@sinclair/typebox';
import { checker } from '#shared/contracts/checker.ts';
import { BODY_LIMIT_BYTES } from '#shared/http/create-http-server.ts';
import { allowPublicCors } from '#shared/http/public-cors.ts';
import { backChannel, credentials, readForm } from '#shared/http/back-channel.ts';
import { OAuthError } from '#shared/oauth-error.ts';
import { TokenGrantTypes } from '#shared/reference-data/clients.ts';
import { authenticateClient, type Deps as AuthenticateDeps } from '#shared/client-auth/authenticate-client.ts';
import { redeemCode, type Deps as RedeemDeps } from './redeem-code.ts';
import { rotateRefreshToken, type Deps as RotateDeps } from './rotate-refresh-token.ts';
import { grantClientCredentials, type Deps as ClientCredentialsDeps } from './client-credentials-grant.ts';
import { revokeToken, type Deps as RevokeDeps } from './revoke-token.ts';
import { introspectToken, type Deps as IntrospectDeps, type Introspection } from './introspect-token.ts';
import type { TokenResult } from './issue-access-token.ts';
import { checkTokenRequestProof, type Deps as TokenRequestProofDeps } from './check-token-request-proof.ts';
import { ResourceIndicators } from '#shared/contracts/common.ts';
import { PushedAuthorizationFields } from '#shared/contracts/authorization-push.ts';
import { pushAuthorization, type Deps as PushDeps } from './push-authorization.ts';

export type HttpDeps = {
  authenticate: AuthenticateDeps;
  redeem: RedeemDeps;
  rotate: RotateDeps;
  clientCredentials: ClientCredentialsDeps;
  revoke: RevokeDeps;
  introspect: IntrospectDeps;
  dpop: TokenRequestProofDeps;
  jwks(): { keys: unknown[] };
  /** How long a JWKS response may be cached (config.ts, jwksMaxAgeSeconds). */
  jwksMaxAgeSeconds: number;
};

const Param = (maxLength: number) => Type.Optional(Type.String({ minLength: 1, maxLength }));
const ClientAuthParams = { client_id: Param(128), client_secret: Param(512) };

// Unknown parameters are ignored (RFC 6749 §3.2); every known one has a ceiling.
const TokenFormSchema = Type.Object({
  grant_type: Param(64),
  // Codes and refresh tokens are sealed: their length follows what they carry (typically 300-600).
  code: Param(MAX_SEALED_LENGTH),
  redirect_uri: Param(2048),
  code_verifier: Param(512),
  refresh_token: Param(MAX_SEALED_LENGTH),
  scope: Param(4096),
  // RFC 8707: repeatable, one resource server per occurrence.
  resource: Type.Optional(ResourceIndicators),
  ...ClientAuthParams,
});
const RevokeFormSchema = Type.Object({ token: Param(MAX_SEALED_LENGTH), token_type_hint: Param(64), ...ClientAuthParams });
// A token longer than any issued is not an error at /introspect but an inactive token: only the body limit bounds it.
const IntrospectFormSchema = Type.Object({ token: Param(BODY_LIMIT_BYTES), token_type_hint: Param(64), ...ClientAuthParams });

const tokenForm = checker(TokenFormSchema);
const GRANT_TYPES: ReadonlySet<string> = new Set(TokenGrantTypes);
const revokeForm = checker(RevokeFormSchema);
const introspectForm = checker(IntrospectFormSchema);

export function registerRoutes(app: FastifyInstance, deps: HttpDeps): void {
  // Browser apps call these directly; introspection is for resource servers (no CORS).
  allowPublicCors(app, ['/jwks.json', '/token', '/revoke']);
  // RFC 7517 JWK Set; keys change rarely and a new one is published before it signs.
  app.get('/jwks.json', async (_request, reply) =>
    reply
      .header('cache-control', `public, max-age=${deps.jwksMaxAgeSeconds}`)
      .type('application/jwk-set+json')
      .send(JSON.stringify(deps.jwks())));

  void app.register(async (scope) => {
    await backChannel(scope);

    scope.post('/token', async (request, reply) => {
      const form = readForm(request.body, tokenForm, ['resource']);
      if (form.grant_type === undefined) throw new OAuthError('invalid_request', 'The grant_type parameter is missing.');
      if (!GRANT_TYPES.has(form.grant_type)) {
        throw new OAuthError('unsupported_grant_type', 'The grant type is not supported.');
      }
      const { client } = await authenticateClient(deps.authenticate, credentials(request, form));
      const jkt = await checkTokenRequestProof(deps.dpop, { client, proof: dpopHeader(request.headers.dpop) });
      const result = form.grant_type === 'authorization_code'
        ? await redeemCode(deps.redeem, {
          client, code: form.code, redirectUri: form.redirect_uri, codeVerifier: form.code_verifier, resources: form.resource, jkt,
        })
        : form.grant_type === 'refresh_token'
          ? await rotateRefreshToken(deps.rotate, { client, refreshToken: form.refresh_token, scope: form.scope, resources: form.resource, jkt })
          : await grantClientCredentials(deps.clientCredentials, { client, scope: form.scope, jkt, resources: form.resource });
      return reply.send(tokenResponse(result));
    });

    scope.post('/revoke', async (request, reply) => {
      const form = readForm(request.body, revokeForm);
      const { client } = await authenticateClient(deps.authenticate, credentials(request, form));
      const outcome = await revokeToken(deps.revoke, { client, token: form.token, tokenTypeHint: form.token_type_hint });
      request.log.info({ client_id: client._id, outcome }, 'revocation request');
      // RFC 7009 §2.2: 200 whether or not anything was revoked; the body is ignored by clients.
      return reply.code(200).send();
    });

    scope.post('/introspect', async (request, reply) => {
      const form = readForm(request.body, introspectForm);
      const { client, method } = await authenticateClient(deps.authenticate, credentials(request, form));
      const result = await introspectToken(deps.introspect, { client, method, token: form.token });
      request.log.debug({ active: result.active, client_id: client._id }, 'token introspected');
      return reply.send(introspectionResponse(result));
    });
  });
}

/** The DPoP header (RFC 9449 §4.1); Node joins a repeated one with ", ", which no proof verifies (§4.3 step 1). */
const dpopHeader = (value: string | string[] | undefined): string | undefined => (Array.isArray(value) ? value.join(', ') : value);

// RFC 9126 §2.1: the authorization request's parameters (bounded as oauth.authorization.push carries
// them) and client authentication as at /token. Unknown parameters are ignored.
const parForm = checker(Type.Object({ ...PushedAuthorizationFields, ...ClientAuthParams }));

/**
 * Pushed authorization requests (RFC 9126), a back-channel endpoint in a scope of its own: the client
 * authenticates as at /token, and authorize-service takes the request over NATS (push-authorization.ts).
 */
export function registerParRoute(app: FastifyInstance, deps: PushDeps): void {
  void app.register(async (scope) => {
    await backChannel(scope);
    scope.post('/par', async (request, reply) => {
      // The secret authenticates the client and goes no further: the rest are the pushed parameters.
      const { client_secret: clientSecret, ...params } = readForm(request.body, parForm, ['resource']);
      const presented = credentials(request, { client_id: params.client_id, client_secret: clientSecret });
      const pushed = await pushAuthorization(deps, { credentials: presented, params, reqId: request.id });
      // RFC 9126 §2.2: 201 with the request_uri and its lifetime.
      return reply.code(201).send({ request_uri: pushed.requestUri, expires_in: pushed.expiresIn });
    });
  });
}

/** RFC 6749 §5.1 successful response. */
function tokenResponse(result: TokenResult) {
  return {
    access_token: result.accessToken,
    token_type: result.jkt === undefined ? 'Bearer' : 'DPoP',
    expires_in: result.expiresIn,
    scope: result.scopes.join(' '),
    ...(result.refreshToken ? { refresh_token: result.refreshToken } : {}),
  };
}

/** RFC 7662 §2.2: an inactive token is exactly {"active": false}; nothing else is said about it. */
function introspectionResponse(result: Introspection): Record<string, unknown> {
  if (!result.active) return { active: false };
  if (result.tokenType === 'access_token') {
    const t = result.token;
    return {
      active: true, scope: t.scope, client_id: t.clientId, ...(result.username !== undefined ? { username: result.username } : {}),
      token_type: t.jkt === undefined ? 'Bearer' : 'DPoP', exp: t.exp, iat: t.iat, sub: t.sub, aud: t.aud, iss: t.iss, jti: t.jti,
      // RFC 9449 §6.2: the key a DPoP-bound token is bound to.
      ...(t.jkt === undefined ? {} : { cnf: { jkt: t.jkt } }),
    };
  }
  return {
    active: true, scope: result.scope, client_id: result.clientId, ...(result.username !== undefined ? { username: result.username } : {}),
    token_type: 'refresh_token', exp: result.exp, ...(result.iat !== undefined ? { iat: result.iat } : {}), sub: result.sub,
  };
}
