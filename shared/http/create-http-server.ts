// The fastify instance every HTTP edge starts from: request ids (taken from `Request-Id` when
// plausible, passed on over NATS), pino logging, body limits, health, readiness and metrics,
// and an error handler that never leaks internals.
import Fastify, { LogController, type FastifyInstance, type FastifyError, type FastifyReply, type FastifyRequest } from 'fastify';
import { randomUUID } from 'node:crypto';
import type { Logger } from '#shared/logger.ts';
import { readRequestId } from '#shared/nats/headers.ts';
import type { Metrics } from '#shared/metrics.ts';

export type ReadinessCheck = () => Promise<Record<string, boolean>>;

export type HttpServerOptions = {
  log: Logger;
  metrics: Metrics;
  ready: ReadinessCheck;
  /** Trust X-Forwarded-* from this many proxies (the edge proxy in docker-compose). */
  trustProxy?: boolean;
};

export const BODY_LIMIT_BYTES = 16 * 1024;

export function createHttpServer({ log, metrics, ready, trustProxy = false }: HttpServerOptions): FastifyInstance {
  const app = Fastify({
    loggerInstance: log,
    // One line per request is written by the onResponse hook below, at debug (error for 5xx).
    logController: new LogController({ disableRequestLogging: true, requestIdLogLabel: 'reqId' }),
    bodyLimit: BODY_LIMIT_BYTES,
    http: { maxHeaderSize: 16 * 1024 },
    trustProxy,
    requestTimeout: 30_000,
    connectionTimeout: 30_000,
    genReqId: (req) => readRequestId(firstHeader(req.headers['request-id'])) ?? randomUUID(),
    routerOptions: { ignoreTrailingSlash: false, maxParamLength: 200 },
    return503OnClosing: true,
  }) as unknown as FastifyInstance;

  app.addHook('onRequest', async (request, reply) => {
    reply.header('request-id', request.id);
    reply.header('x-content-type-options', 'nosniff');
  });
  app.addHook('onResponse', async (request, reply) => {
    metrics.observeHttp(request.routeOptions.url ?? 'unmatched', request.method, reply.statusCode, reply.elapsedTime / 1000);
    const line = { reqId: request.id, method: request.method, route: request.routeOptions.url, status: reply.statusCode, ms: Math.round(reply.elapsedTime) };
    if (reply.statusCode >= 500) request.log.error(line, 'request completed');
    else request.log.debug(line, 'request completed');
  });

  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (_request, reply) => {
    const checks = await ready();
    const ok = Object.values(checks).every(Boolean);
    return reply.code(ok ? 200 : 503).send({ status: ok ? 'ready' : 'not ready', checks });
  });
  app.get('/metrics', async (_request, reply) => reply.type(metrics.contentType).send(await metrics.render()));

  app.setNotFoundHandler((_request, reply) => reply.code(404).send({ error: 'not_found' }));
  app.setErrorHandler(genericErrorHandler);
  return app;
}

/** Maps fastify's own client errors to their 4xx; anything else is a logged 500 with no detail. */
export function genericErrorHandler(error: FastifyError, request: FastifyRequest, reply: FastifyReply) {
  const status = clientErrorStatus(error);
  if (status) return reply.code(status).send({ error: 'invalid_request', error_description: 'The request is malformed.' });
  request.log.error({ err: error, reqId: request.id }, 'unexpected error');
  return reply.code(500).send({ error: 'server_error', error_description: 'The server could not complete the request.' });
}

/** The 4xx status of an error fastify raised about the request itself, if it is one. */
export function clientErrorStatus(error: FastifyError): number | undefined {
  if (error.validation) return 400;
  const status = error.statusCode;
  if (status && status >= 400 && status < 500) return status;
  return undefined;
}

export function firstHeader(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}
