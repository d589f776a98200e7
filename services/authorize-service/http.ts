// HTTP edge of authorize-service: the authorization endpoint and RFC 8414 metadata.
import type { FastifyInstance, FastifyReply } from 'fastify';
import { Eta } from 'eta';
import { fileURLToPath } from 'node:url';
import { isUnavailable } from '#shared/http/create-http-server.ts';
import { isOAuthError } from '#shared/oauth-error.ts';
import { authorizationResponseUrl } from './authorization-response.ts';
import { validateAuthorizationRequest, type Deps as ValidateDeps, type RawQuery } from './validate-authorization-request.ts';
import { startAuthorization, type Deps as StartDeps } from './start-authorization.ts';
import { allowPublicCors } from '#shared/http/public-cors.ts';

export type HttpDeps = {
  validate: ValidateDeps;
  start: StartDeps;
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
    const result = await validateAuthorizationRequest(deps.validate, request.query as RawQuery);
    pageHeaders(reply);
    if (result.kind === 'show-error') {
      request.log.info({ reason: result.description }, 'authorization request refused on the page');
      return reply.code(400).type('text/html; charset=utf-8').send(eta.render('./error', { description: result.description }));
    }
    if (result.kind === 'redirect-error') {
      request.log.info({ error: result.error.code, detail: result.error.detail }, 'authorization request refused');
      return reply.redirect(authorizationResponseUrl(result.redirectUri, {
        error: result.error.code, error_description: result.error.description, state: result.state, iss: deps.issuer,
      }), 302);
    }
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
  });
}
