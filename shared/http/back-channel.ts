// One way in and out for the back-channel endpoints (/token, /revoke, /introspect and /par, all token-service's):
// form bodies only, one form reader, and one RFC 6749 §5.2 error handler, so they all refuse the
// same input in the same words. Routes register inside `backChannel(scope)`'s encapsulated scope.
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import formbody from '@fastify/formbody';
import type { Static, TObject } from '@sinclair/typebox';
import type { Checker } from '#shared/contracts/checker.ts';
import { BODY_LIMIT_BYTES, clientErrorStatus, firstHeader } from '#shared/http/create-http-server.ts';
import { isDatabaseUnavailable } from '#shared/mongo.ts';
import { OAuthError, isOAuthError, unavailable } from '#shared/oauth-error.ts';
import type { ClientCredentials } from '#shared/client-auth/authenticate-client.ts';

/**
 * Makes `scope` a back-channel scope: only application/x-www-form-urlencoded bodies are read (JSON,
 * text or anything else is refused before any handler runs), every answer is uncached (RFC 6749
 * §5.1, RFC 7662 §2.2), and every error goes through `oauthErrorHandler`.
 */
export async function backChannel(scope: FastifyInstance): Promise<void> {
  scope.removeAllContentTypeParsers();
  await scope.register(formbody, { bodyLimit: BODY_LIMIT_BYTES });
  scope.addHook('onSend', async (_request, reply, payload) => {
    reply.header('cache-control', 'no-store').header('pragma', 'no-cache');
    return payload;
  });
  scope.setErrorHandler(oauthErrorHandler);
}

/**
 * The form parameters, checked: a repeated parameter is invalid_request (RFC 6749 §3.1), one sent
 * without a value counts as omitted (§3.1), unknown ones are ignored, and each known one must fit
 * the schema (its ceilings). Names in `repeatable` may appear several times and are read as a list.
 */
export function readForm<S extends TObject>(body: unknown, form: Checker<S>, repeatable: readonly string[] = []): Static<S> {
  if (body === undefined || body === null) return {} as Static<S>;
  if (typeof body !== 'object' || Array.isArray(body)) throw new OAuthError('invalid_request', 'The request body must be application/x-www-form-urlencoded.');
  const params: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(body as Record<string, unknown>)) {
    // Parameters defined as repeatable (RFC 8707 `resource`) are read as a list, their empty values left out.
    if (repeatable.includes(name) && Object.hasOwn(form.schema.properties, name)) {
      const values = (Array.isArray(value) ? value : [value]).filter((v): v is string => typeof v === 'string' && v !== '');
      if (values.length > 0) params[name] = values;
      continue;
    }
    if (Array.isArray(value)) throw new OAuthError('invalid_request', 'A request parameter is repeated.', `repeated ${name.slice(0, 64)}`);
    // Unknown parameters are ignored (and never copied, so no prototype key can slip in).
    if (typeof value === 'string' && value !== '' && Object.hasOwn(form.schema.properties, name)) params[name] = value;
  }
  const parsed = form.parse(params);
  if (parsed === undefined) throw new OAuthError('invalid_request', 'A request parameter is too long or malformed.');
  return parsed;
}

/** The client credentials a back-channel request presents (RFC 6749 §2.3.1): the Authorization header and the form's. */
export function credentials(request: FastifyRequest, form: { client_id?: string; client_secret?: string }): ClientCredentials {
  return { authorization: firstHeader(request.headers.authorization), clientId: form.client_id, clientSecret: form.client_secret };
}

/**
 * RFC 6749 §5.2 JSON errors. invalid_client is always 401 with a Basic challenge (CONTRACT: whenever
 * the client tried to authenticate, or sent no credentials where it must); the database away is a
 * 503 temporarily_unavailable with Retry-After; bad input is never a 5xx.
 */
export function oauthErrorHandler(error: FastifyError | OAuthError, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  // The database away (e.g. a client not in the cache looked up) is a 503, as the stores' own operations answer.
  if (isDatabaseUnavailable(error)) return oauthErrorHandler(unavailable(`database unavailable: ${error.message}`), request, reply);
  if (isOAuthError(error)) {
    if (error.code === 'server_error') request.log.error({ err: error, reqId: request.id }, 'back-channel request failed');
    else if (error.code === 'temporarily_unavailable') request.log.warn({ detail: error.detail, reqId: request.id }, 'back-channel endpoint unavailable');
    else request.log.info({ error: error.code, detail: error.detail, reqId: request.id }, 'back-channel request refused');
    if (error.code === 'invalid_client') reply.header('www-authenticate', 'Basic realm="oauth"');
    if (error.code === 'temporarily_unavailable') reply.header('retry-after', '1');
    return reply.code(error.status).send(error.toJSON());
  }
  const status = clientErrorStatus(error);
  if (status === 413) return reply.code(413).send({ error: 'invalid_request', error_description: 'The request body is too large.' });
  if (status) {
    request.log.info({ fastifyError: error.code, reqId: request.id }, 'back-channel request malformed');
    return reply.code(400).send({ error: 'invalid_request', error_description: 'The request is malformed or not application/x-www-form-urlencoded.' });
  }
  request.log.error({ err: error, reqId: request.id }, 'unexpected error');
  return reply.code(500).send({ error: 'server_error', error_description: 'The server could not complete the request.' });
}
