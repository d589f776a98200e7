// HTTP edge of token-service: the token endpoint (RFC 6749 §3.2), revocation (RFC 7009) and JWKS.
// /token and /revoke accept only application/x-www-form-urlencoded, refuse repeated parameters
// (RFC 6749 §3.1/§3.2), answer errors as RFC 6749 §5.2 JSON, and are never cached.
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import formbody from '@fastify/formbody';
import { MAX_SEALED_LENGTH } from '#shared/grants/sealed-state.ts';
import { Type, type Static, type TObject } from '@sinclair/typebox';
import { checker, type Checker } from '#shared/contracts/checker.ts';
import { BODY_LIMIT_BYTES, clientErrorStatus, firstHeader } from '#shared/http/create-http-server.ts';
import { isDatabaseUnavailable } from '#shared/mongo.ts';
import { OAuthError, isOAuthError, unavailable } from '#shared/oauth-error.ts';
import { authenticateClient, type Deps as AuthenticateDeps } from '#shared/client-auth/authenticate-client.ts';
import { redeemCode, type Deps as RedeemDeps } from './redeem-code.ts';
import { rotateRefreshToken, type Deps as RotateDeps } from './rotate-refresh-token.ts';
import { revokeToken, type Deps as RevokeDeps } from './revoke-token.ts';
import type { TokenResult } from './issue-access-token.ts';

export type HttpDeps = {
  authenticate: AuthenticateDeps;
  redeem: RedeemDeps;
  rotate: RotateDeps;
  revoke: RevokeDeps;
  jwks(): { keys: unknown[] };
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
  ...ClientAuthParams,
});
const RevokeFormSchema = Type.Object({ token: Param(MAX_SEALED_LENGTH), token_type_hint: Param(64), ...ClientAuthParams });

const tokenForm = checker(TokenFormSchema);
const revokeForm = checker(RevokeFormSchema);

export function registerRoutes(app: FastifyInstance, deps: HttpDeps): void {
  // RFC 7517 JWK Set; keys change rarely and a new one is published before it signs.
  app.get('/jwks.json', async (_request, reply) =>
    reply
      .header('cache-control', 'public, max-age=60')
      .header('access-control-allow-origin', '*')
      .type('application/jwk-set+json')
      .send(JSON.stringify(deps.jwks())));

  void app.register(async (scope) => {
    // Only form bodies: JSON, text or anything else is refused before any handler runs.
    scope.removeAllContentTypeParsers();
    await scope.register(formbody, { bodyLimit: BODY_LIMIT_BYTES });
    // RFC 6749 §5.1: token responses (and their errors) must not be cached.
    scope.addHook('onSend', async (_request, reply, payload) => {
      reply.header('cache-control', 'no-store').header('pragma', 'no-cache');
      return payload;
    });
    scope.setErrorHandler(oauthErrorHandler);

    scope.post('/token', async (request, reply) => {
      const form = readForm(request.body, tokenForm);
      if (form.grant_type === undefined) throw new OAuthError('invalid_request', 'The grant_type parameter is missing.');
      if (form.grant_type !== 'authorization_code' && form.grant_type !== 'refresh_token') {
        throw new OAuthError('unsupported_grant_type', 'The grant type is not supported.');
      }
      const { client } = await authenticateClient(deps.authenticate, credentials(request, form));
      const result = form.grant_type === 'authorization_code'
        ? await redeemCode(deps.redeem, { client, code: form.code, redirectUri: form.redirect_uri, codeVerifier: form.code_verifier })
        : await rotateRefreshToken(deps.rotate, { client, refreshToken: form.refresh_token, scope: form.scope });
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
  });
}

/** RFC 6749 §5.1 successful response. */
function tokenResponse(result: TokenResult) {
  return {
    access_token: result.accessToken,
    token_type: 'Bearer',
    expires_in: result.expiresIn,
    scope: result.scopes.join(' '),
    ...(result.refreshToken ? { refresh_token: result.refreshToken } : {}),
  };
}

function credentials(request: FastifyRequest, form: { client_id?: string; client_secret?: string }) {
  return { authorization: firstHeader(request.headers.authorization), clientId: form.client_id, clientSecret: form.client_secret };
}

/**
 * The form parameters, checked: a repeated parameter is invalid_request (RFC 6749 §3.1), one sent
 * without a value counts as omitted (§3.1), and each must fit the schema.
 */
export function readForm<S extends TObject>(body: unknown, form: Checker<S>): Static<S> {
  if (body === undefined || body === null) return {} as Static<S>;
  if (typeof body !== 'object' || Array.isArray(body)) throw new OAuthError('invalid_request', 'The request body must be application/x-www-form-urlencoded.');
  const params: Record<string, string> = {};
  for (const [name, value] of Object.entries(body as Record<string, unknown>)) {
    if (Array.isArray(value)) throw new OAuthError('invalid_request', 'A request parameter is repeated.', `repeated ${name.slice(0, 64)}`);
    // Unknown parameters are ignored (and never copied, so no prototype key can slip in).
    if (typeof value === 'string' && value !== '' && Object.hasOwn(form.schema.properties, name)) params[name] = value;
  }
  const parsed = form.parse(params);
  if (parsed === undefined) throw new OAuthError('invalid_request', 'A request parameter is too long or malformed.');
  return parsed;
}

/**
 * RFC 6749 §5.2 errors for /token and /revoke. invalid_client is always 401 with a Basic challenge
 * (CONTRACT: whenever the client tried to authenticate, or sent no credentials where it must).
 */
export function oauthErrorHandler(error: FastifyError | OAuthError, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  // The database away (e.g. a client not in the cache looked up) is a 503, as the store's own operations answer.
  if (isDatabaseUnavailable(error)) return oauthErrorHandler(unavailable(`database unavailable: ${error.message}`), request, reply);
  if (isOAuthError(error)) {
    if (error.code === 'server_error') request.log.error({ err: error, reqId: request.id }, 'token endpoint failed');
    else if (error.code === 'temporarily_unavailable') request.log.warn({ detail: error.detail, reqId: request.id }, 'token endpoint unavailable');
    else request.log.info({ error: error.code, detail: error.detail, reqId: request.id }, 'token request refused');
    if (error.code === 'invalid_client') reply.header('www-authenticate', 'Basic realm="oauth"');
    if (error.code === 'temporarily_unavailable') reply.header('retry-after', '1');
    return reply.code(error.status).send(error.toJSON());
  }
  const status = clientErrorStatus(error);
  if (status === 413) return reply.code(413).send({ error: 'invalid_request', error_description: 'The request body is too large.' });
  if (status) {
    request.log.info({ fastifyError: error.code, reqId: request.id }, 'token request malformed');
    return reply.code(400).send({ error: 'invalid_request', error_description: 'The request is malformed or not application/x-www-form-urlencoded.' });
  }
  request.log.error({ err: error, reqId: request.id }, 'unexpected error');
  return reply.code(500).send({ error: 'server_error', error_description: 'The server could not complete the request.' });
}
