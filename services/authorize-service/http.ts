// HTTP edge of authorize-service: the authorization endpoint (with request_uri from a pushed
// authorization request, RFC 9126 §4) and RFC 8414 metadata. POST /par is token-service's: it
// authenticates the client and hands the request here over NATS (nats.ts).
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { Eta } from 'eta';
import { fileURLToPath } from 'node:url';
import { isUnavailable } from '#shared/http/create-http-server.ts';
import { isOAuthError } from '#shared/oauth-error.ts';
import { authorizationResponseUrl } from './authorization-response.ts';
import { validateAuthorizationRequest, type Deps as ValidateDeps, type RawQuery, type ValidationResult } from './validate-authorization-request.ts';
import { startAuthorization, type Deps as StartDeps } from './start-authorization.ts';
import type { AuthorizationRequest } from '#shared/grants/authorization-requests.ts';
import { takePushedRequest, type Deps as TakePushedDeps } from './take-pushed-request.ts';
import { allowPublicCors } from '#shared/http/public-cors.ts';
import type { Metrics } from '#shared/metrics.ts';
import { answerRemembered, type Deps as RememberedDeps } from './answer-remembered.ts';

export type HttpDeps = {
  validate: ValidateDeps;
  start: StartDeps;
  takePushed: TakePushedDeps;
  /** Present where consent-ui's session cookie reaches this service (same scheme and host): its name, and what answers with it. */
  remembered?: RememberedDeps & { sessionCookie: string; metrics: Pick<Metrics, 'count'> };
  issuer: string;
  metadata(): Record<string, unknown>;
};

const eta = new Eta({ views: fileURLToPath(new URL('./views', import.meta.url)), autoEscape: true, cache: true });

// Pages of this service show nothing a third party should frame, load or be referred to.
function pageHeaders(reply: FastifyReply): FastifyReply {
  return reply
    .header('cache-control', 'no-store')
    .header('referrer-policy', 'no-referrer')
    .header('x-frame-options', 'DENY')
    .header('content-security-policy', "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'");
}

export function registerRoutes(app: FastifyInstance, deps: HttpDeps): void {
  // The metadata is for browser apps too; the authorization endpoint is navigated to, never fetched (no CORS).
  allowPublicCors(app, ['/.well-known/oauth-authorization-server']);
  app.get('/.well-known/oauth-authorization-server', async (_request, reply) =>
    reply.header('cache-control', 'public, max-age=300').send(deps.metadata()));

  app.get('/authorize', async (request, reply) => {
    pageHeaders(reply);
    const query = request.query as RawQuery;
    // RFC 9126 §4: with request_uri, the pushed parameters are the request, and only they.
    const pushed = await takePushedRequest(deps.takePushed, query);
    if (pushed.kind === 'show-error') return errorPage(request, reply, pushed.description);
    if (pushed.kind === 'unavailable') {
      request.log.error({ err: pushed.error }, 'could not take the pushed authorization request');
      return errorPage(request, reply, 'The authorization server could not take the request, try again later.', 503);
    }
    const result = pushed.kind === 'pushed'
      ? await validateAuthorizationRequest(deps.validate, pushed.params, { pushed: true })
      : await validateAuthorizationRequest(deps.validate, query);
    return answerAuthorizationRequest(deps, request, reply, result);
  });
}

function errorPage(request: FastifyRequest, reply: FastifyReply, description: string, status: 400 | 503 = 400): FastifyReply {
  request.log.info({ reason: description }, 'authorization request refused on the page');
  return reply.code(status).type('text/html; charset=utf-8').send(eta.render('./error', { description }));
}

async function answerAuthorizationRequest(deps: HttpDeps, request: FastifyRequest, reply: FastifyReply, result: ValidationResult): Promise<FastifyReply> {
  if (result.kind === 'show-error') return errorPage(request, reply, result.description);
  if (result.kind === 'redirect-error') {
    request.log.info({ error: result.error.code, detail: result.error.detail }, 'authorization request refused');
    return reply.redirect(authorizationResponseUrl(result.redirectUri, {
      error: result.error.code, error_description: result.error.description, state: result.state, iss: deps.issuer,
    }), 302);
  }
  const answered = await answerAtOnce(deps, request, result.request);
  if (answered !== undefined) return reply.redirect(answered, 302);
  try {
    return reply.redirect(await startAuthorization(deps.start, result.request), 302);
  } catch (error) {
    // The client and redirect URI are verified: tell the client rather than strand the owner (RFC 6749 §4.1.2.1).
    if (isOAuthError(error)) {
      request.log.info({ error: error.code }, 'authorization request refused');
      return reply.redirect(authorizationResponseUrl(result.request.redirectUri, {
        error: error.code, error_description: error.description, state: result.request.state, iss: deps.issuer,
      }), 302);
    }
    request.log.error({ err: error }, 'could not take the authorization request');
    const code = isUnavailable(error) ? 'temporarily_unavailable' : 'server_error';
    return reply.redirect(authorizationResponseUrl(result.request.redirectUri, {
      error: code, error_description: 'The authorization server could not take the request, try again later.', state: result.request.state, iss: deps.issuer,
    }), 302);
  }
}

/** The code at once for a signed-in owner whose remembered consent covers the request; undefined: on to consent-ui. */
async function answerAtOnce(deps: HttpDeps, request: FastifyRequest, authorization: AuthorizationRequest): Promise<string | undefined> {
  if (!deps.remembered) return undefined;
  const sessionCookie = onlySessionCookie(request.headers.cookie, deps.remembered.sessionCookie);
  if (sessionCookie === undefined) return undefined;
  const { metrics } = deps.remembered;
  try {
    const answered = await answerRemembered(deps.remembered, authorization, sessionCookie);
    metrics.count('remembered_consent', { outcome: answered === undefined ? 'consent_ui' : 'code' });
    return answered;
  } catch (error) {
    // Nothing has been issued or announced yet: consent-ui can still answer, or say what is wrong.
    metrics.count('remembered_consent', { outcome: 'failed' });
    request.log.warn({ err: error }, 'could not check the remembered consent here; the request goes on to consent-ui');
    return undefined;
  }
}

/**
 * The session cookie's value when the request carries exactly one. Two: one was set for a narrower
 * path (on plain http, by anything on another port of this host), and consent-ui, which sees only
 * its own, decides.
 */
function onlySessionCookie(header: string | undefined, name: string): string | undefined {
  const values = (header ?? '').split(';').map((pair) => pair.trim()).filter((pair) => pair.startsWith(`${name}=`));
  return values.length === 1 ? values[0]!.slice(name.length + 1) : undefined;
}
