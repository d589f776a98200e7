// HTTP edge of authorize-service: the authorization endpoint, pushed authorization requests
// (RFC 9126, a back-channel endpoint: shared/http/back-channel.ts) and RFC 8414 metadata.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { Type } from '@sinclair/typebox';
import { Eta } from 'eta';
import { fileURLToPath } from 'node:url';
import { checker } from '#shared/contracts/checker.ts';
import { isUnavailable } from '#shared/http/create-http-server.ts';
import { backChannel, credentials, readForm } from '#shared/http/back-channel.ts';
import { isOAuthError } from '#shared/oauth-error.ts';
import { authenticateClient, type Deps as AuthenticateDeps } from '#shared/client-auth/authenticate-client.ts';
import { MAX_RESOURCE_LENGTH, MAX_RESOURCES } from '#shared/reference-data/resource-servers.ts';
import { authorizationResponseUrl } from './authorization-response.ts';
import { validateAuthorizationRequest, type Deps as ValidateDeps, type RawQuery, type ValidationResult } from './validate-authorization-request.ts';
import { startAuthorization, type Deps as StartDeps } from './start-authorization.ts';
import { pushAuthorizationRequest, type Deps as PushDeps } from './push-authorization-request.ts';
import { takePushedRequest, type Deps as TakePushedDeps } from './take-pushed-request.ts';

export type HttpDeps = {
  validate: ValidateDeps;
  start: StartDeps;
  authenticate: AuthenticateDeps;
  push: PushDeps;
  takePushed: TakePushedDeps;
  issuer: string;
  metadata(): Record<string, unknown>;
};

const eta = new Eta({ views: fileURLToPath(new URL('./views', import.meta.url)), autoEscape: true, cache: true });

const Param = (maxLength: number) => Type.Optional(Type.String({ minLength: 1, maxLength }));
// RFC 9126 §2.1: the authorization request's parameters, and client authentication as at /token.
// Unknown parameters are ignored; every known one has a ceiling (state's own limit is checked as at /authorize).
const ParFormSchema = Type.Object({
  response_type: Param(64),
  client_id: Param(128),
  redirect_uri: Param(2048),
  scope: Param(4096),
  state: Param(4096),
  code_challenge: Param(128),
  code_challenge_method: Param(16),
  request_uri: Param(16_384),
  resource: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: MAX_RESOURCE_LENGTH }), { minItems: 1, maxItems: MAX_RESOURCES })),
  client_secret: Param(512),
});
const parForm = checker(ParFormSchema);

// Pages of this service show nothing a third party should frame, load or be referred to.
function pageHeaders(reply: FastifyReply): FastifyReply {
  return reply
    .header('cache-control', 'no-store')
    .header('referrer-policy', 'no-referrer')
    .header('x-frame-options', 'DENY')
    .header('content-security-policy', "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'");
}

export function registerRoutes(app: FastifyInstance, deps: HttpDeps): void {
  app.get('/.well-known/oauth-authorization-server', async (_request, reply) =>
    reply.header('cache-control', 'public, max-age=300').header('access-control-allow-origin', '*').send(deps.metadata()));

  app.get('/authorize', async (request, reply) => {
    pageHeaders(reply);
    const query = request.query as RawQuery;
    // RFC 9126 §4: with request_uri, the pushed parameters are the request, and only they.
    const pushed = await takePushedRequest(deps.takePushed, query);
    if (pushed.kind === 'show-error') return errorPage(request, reply, pushed.description);
    const result = pushed.kind === 'pushed'
      ? await validateAuthorizationRequest(deps.validate, pushed.params, { pushed: true })
      : await validateAuthorizationRequest(deps.validate, query);
    return answerAuthorizationRequest(deps, request, reply, result);
  });

  void app.register(async (scope) => {
    await backChannel(scope);
    scope.post('/par', async (request, reply) => {
      // The secret authenticates the client and goes no further: the rest are the pushed parameters.
      const { client_secret: clientSecret, ...params } = readForm(request.body, parForm, ['resource']);
      const { client } = await authenticateClient(deps.authenticate, credentials(request, { client_id: params.client_id, client_secret: clientSecret }));
      const pushed = await pushAuthorizationRequest(deps.push, { client, params });
      // RFC 9126 §2.2: 201 with the request_uri and its lifetime.
      return reply.code(201).send({ request_uri: pushed.requestUri, expires_in: pushed.expiresIn });
    });
  });
}

function errorPage(request: FastifyRequest, reply: FastifyReply, description: string): FastifyReply {
  request.log.info({ reason: description }, 'authorization request refused on the page');
  return reply.code(400).type('text/html; charset=utf-8').send(eta.render('./error', { description }));
}

async function answerAuthorizationRequest(deps: HttpDeps, request: FastifyRequest, reply: FastifyReply, result: ValidationResult): Promise<FastifyReply> {
  if (result.kind === 'show-error') return errorPage(request, reply, result.description);
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
}
