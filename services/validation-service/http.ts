// HTTP edge of validation-service: RFC 7662 token introspection.
import { MAX_SEALED_LENGTH } from '#shared/grants/sealed-state.ts';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import formbody from '@fastify/formbody';
import { clientErrorStatus, firstHeader } from '#shared/http/create-http-server.ts';
import { isDatabaseUnavailable } from '#shared/mongo.ts';
import { isOAuthError, OAuthError, unavailable } from '#shared/oauth-error.ts';
import { authenticateClient, clientAuthFailed, type Deps as AuthenticateDeps } from '#shared/client-auth/authenticate-client.ts';
import { introspectToken, type Deps as IntrospectDeps, type Introspection } from './introspect-token.ts';

export type HttpDeps = { authenticate: AuthenticateDeps; introspect: IntrospectDeps };

/** Longer than any token this server issues (a sealed refresh token's ceiling): such a value is simply not an active token. */
const MAX_TOKEN_LENGTH = MAX_SEALED_LENGTH;

export function registerRoutes(app: FastifyInstance, deps: HttpDeps): void {
  void app.register(async (scope) => {
    await scope.register(formbody);
    scope.setErrorHandler(oauthErrorHandler);

    scope.post('/introspect', async (request, reply) => {
      noStore(reply);
      // RFC 7662 §2.1: the request is application/x-www-form-urlencoded.
      if (!isForm(request)) throw invalidRequest('The request must be application/x-www-form-urlencoded.');
      const form = request.body as Record<string, unknown> | null | undefined ?? {};
      // RFC 6749 §3.1: request parameters must not be included more than once.
      for (const name of ['token', 'token_type_hint', 'client_id', 'client_secret']) {
        if (Array.isArray(form[name])) throw invalidRequest('A request parameter is repeated.');
      }
      const { client, method } = await authenticateClient(deps.authenticate, {
        authorization: firstHeader(request.headers.authorization), clientId: stringParam(form.client_id), clientSecret: stringParam(form.client_secret),
      });
      // RFC 7662 §2.1: the caller must authenticate; a public client (no secret) cannot.
      if (method === 'none') throw clientAuthFailed('public clients may not introspect');
      const token = form.token;
      if (typeof token !== 'string' || token === '') throw invalidRequest('The token parameter is missing.');
      const hint = form.token_type_hint;
      if (hint !== undefined && (typeof hint !== 'string' || hint.length > 64)) throw invalidRequest('The token_type_hint parameter is malformed.');
      if (token.length > MAX_TOKEN_LENGTH) return reply.send(toJson({ active: false }));
      const result = await introspectToken(deps.introspect, client, token);
      request.log.debug({ active: result.active, client_id: client._id }, 'token introspected');
      return reply.send(toJson(result));
    });
  });
}

/** RFC 7662 §2.2: an inactive token is exactly {"active": false}; nothing else is said about it. */
function toJson(result: Introspection): Record<string, unknown> {
  if (!result.active) return { active: false };
  if (result.tokenType === 'access_token') {
    const t = result.token;
    return {
      active: true, scope: t.scope, client_id: t.clientId, ...(result.username !== undefined ? { username: result.username } : {}),
      token_type: 'Bearer', exp: t.exp, iat: t.iat, sub: t.sub, aud: t.aud, iss: t.iss, jti: t.jti,
    };
  }
  return {
    active: true, scope: result.scope, client_id: result.clientId, ...(result.username !== undefined ? { username: result.username } : {}),
    token_type: 'refresh_token', exp: result.exp, ...(result.iat !== undefined ? { iat: result.iat } : {}), sub: result.sub,
  };
}

const stringParam = (value: unknown): string | undefined => (typeof value === 'string' && value !== '' ? value : undefined);

function isForm(request: FastifyRequest): boolean {
  const type = firstHeader(request.headers['content-type']);
  return type !== undefined && type.split(';')[0]!.trim().toLowerCase() === 'application/x-www-form-urlencoded';
}

const invalidRequest = (description: string) => new OAuthError('invalid_request', description);

function noStore(reply: FastifyReply): FastifyReply {
  return reply.header('cache-control', 'no-store').header('pragma', 'no-cache');
}

/** RFC 6749 §5.2 JSON errors; invalid_client is a 401 with WWW-Authenticate; never a 5xx for bad input. */
function oauthErrorHandler(error: FastifyError | OAuthError, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  noStore(reply);
  // The database away (a refresh family or a client read) is a 503, not a 500.
  if (isDatabaseUnavailable(error)) return oauthErrorHandler(unavailable(`database unavailable: ${error.message}`), request, reply);
  if (isOAuthError(error)) {
    if (error.code === 'invalid_client') reply.header('www-authenticate', 'Basic realm="introspection", charset="UTF-8"');
    else if (error.status >= 500) request.log.error({ err: error, detail: error.detail }, 'introspection failed');
    else request.log.info({ error: error.code, detail: error.detail }, 'introspection refused');
    return reply.code(error.status).send(error.toJSON());
  }
  const status = clientErrorStatus(error);
  // Over the body limit: 413, as on every other edge; any other malformed request is a 400.
  if (status === 413) return reply.code(413).send({ error: 'invalid_request', error_description: 'The request body is too large.' });
  if (status) return reply.code(400).send({ error: 'invalid_request', error_description: 'The request is malformed.' });
  request.log.error({ err: error }, 'unexpected error');
  return reply.code(500).send({ error: 'server_error', error_description: 'The server could not complete the request.' });
}
