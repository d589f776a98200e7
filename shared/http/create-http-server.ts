// The fastify instance every HTTP edge starts from: request ids (taken from `Request-Id` when
// plausible, passed on over NATS), pino logging, body limits, health, readiness and metrics,
// and an error handler that never leaks internals.
import Fastify, { LogController, type ConnectionError, type FastifyInstance, type FastifyError, type FastifyReply, type FastifyRequest } from 'fastify';
import { randomUUID } from 'node:crypto';
import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type { Logger } from '#shared/logger.ts';
import { readRequestId } from '#shared/nats/headers.ts';
import type { Metrics } from '#shared/metrics.ts';
import { isDatabaseUnavailable } from '#shared/mongo.ts';
import { isOAuthError } from '#shared/oauth-error.ts';
import { parseTrustProxy, type TrustProxy } from '#shared/config.ts';
import { endSpan, runInSpan, startServerSpan, tracingOn, type Span } from '#shared/tracing.ts';

export type ReadinessCheck = () => Promise<Record<string, boolean>>;

export type HttpServerOptions = {
  log: Logger;
  metrics: Metrics;
  ready: ReadinessCheck;
  /** TRUST_PROXY as configured: which proxies' X-Forwarded-* to believe (parseTrustProxy); off when absent. */
  trustProxy?: string;
  /** True from the first moment of shutdown: every response then closes its connection (the client reconnects elsewhere). */
  stopping?: () => boolean;
};

export const BODY_LIMIT_BYTES = 16 * 1024;

/**
 * TRUST_PROXY as fastify (proxy-addr) takes it, never `true` (with it the client's own
 * X-Forwarded-For entries count). A hop count becomes a function: fastify 5 ignores a plain number.
 * With n hops, the peer and the n-1 proxies before it are trusted, so the address seen is the
 * entry the n-th proxy appended, whatever a client wrote before it.
 */
export function fastifyTrustProxy(setting: TrustProxy): false | string[] | ((address: string, hop: number) => boolean) {
  if (typeof setting !== 'number') return setting;
  return setting === 0 ? false : (_address, hop) => hop < setting;
}

export function createHttpServer({ log, metrics, ready, trustProxy = 'false', stopping = () => false }: HttpServerOptions): FastifyInstance {
  const app = Fastify({
    loggerInstance: log,
    // fastify's own two lines per request are off: logAccess writes one line per request instead.
    logController: new LogController({ disableRequestLogging: true, requestIdLogLabel: 'reqId' }),
    bodyLimit: BODY_LIMIT_BYTES,
    // Host is required below rather than by Node, whose refusal has no body.
    http: { maxHeaderSize: 16 * 1024, requireHostHeader: false },
    trustProxy: fastifyTrustProxy(parseTrustProxy(trustProxy)),
    requestTimeout: 30_000,
    connectionTimeout: 30_000,
    genReqId: (req) => readRequestId(firstHeader(req.headers['request-id'])) ?? randomUUID(),
    routerOptions: { ignoreTrailingSlash: false, maxParamLength: 200 },
    // While the server closes, a request that arrives on a connection still open (a keep-alive one
    // the client sent on as it was being closed) is served, with `Connection: close`, never a 503:
    // a rolling restart loses no request. Idle keep-alive connections are closed at once (Node's
    // server.close()), and requests in flight finish.
    return503OnClosing: false,
    // Refused before any route: the same plain error as any malformed request, never fastify's
    // own bodies (one of which echoes the path).
    clientErrorHandler: refuseUnparsableRequest,
    frameworkErrors: (error, _request, reply) => {
      void (reply as FastifyReply).code(clientErrorStatus(error) ?? 400).header('cache-control', 'no-store').send(MALFORMED);
    },
  }) as unknown as FastifyInstance;

  if (tracingOn()) traceRequests(app);
  app.addHook('onRequest', async (request, reply) => {
    reply.header('request-id', request.id);
    reply.header('x-content-type-options', 'nosniff');
    if (stopping() && request.raw.httpVersionMajor === 1) reply.header('connection', 'close');
    // RFC 9112 §3.2: a server MUST answer 400 to an HTTP/1.1 request without Host.
    if (request.raw.httpVersion === '1.1' && request.headers.host === undefined) return reply.code(400).send(MALFORMED);
  });
  // Node answers an Expect it does not support with a bare 417 (RFC 9110 §10.1.1); say it like any refusal.
  app.server.on('checkExpectation', (_request, response) => {
    const body = JSON.stringify({ error: 'invalid_request', error_description: 'The Expect header is not supported.' });
    response.writeHead(417, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store', connection: 'close' });
    response.end(body);
  });
  app.addHook('onResponse', async (request, reply) => {
    metrics.observeHttp(request.routeOptions.url ?? 'unmatched', request.method, reply.statusCode, reply.elapsedTime / 1000);
    logAccess(request, reply);
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

const MALFORMED = { error: 'invalid_request', error_description: 'The request is malformed.' };

/**
 * One server span per request (only while tracing is on), the child of the caller's `traceparent`
 * if it sent one. It is made current in preHandler, after the body is read: the stream events of
 * body parsing would run outside it, while handlers run from preHandler's callback, inside it.
 */
function traceRequests(app: FastifyInstance): void {
  const spans = new WeakMap<FastifyRequest, Span>();
  app.addHook('onRequest', (request, _reply, done) => {
    const route = request.routeOptions.url;
    const attributes = { 'http.request.method': request.method, ...(route ? { 'http.route': route } : {}), 'request.id': request.id };
    const span = startServerSpan(route ? `${request.method} ${route}` : request.method, attributes, firstHeader(request.headers.traceparent));
    if (span) spans.set(request, span);
    done();
  });
  app.addHook('preHandler', (request, _reply, done) => runInSpan(spans.get(request), done));
  app.addHook('onResponse', (request, reply, done) => {
    endSpan(spans.get(request), { 'http.response.status_code': reply.statusCode }, reply.statusCode >= 500);
    done();
  });
}

/** Probes and scrapes come every few seconds from the platform, not from users: their lines are at debug. */
const QUIET_ROUTES: ReadonlySet<string | undefined> = new Set(['/healthz', '/readyz', '/metrics']);

/**
 * The access log: one line per request (the child logger adds `reqId`), at info, error for a 5xx.
 * It names the route pattern, or for an unmatched request the path, never the query string:
 * authorization requests, redirects and callbacks carry codes and state there.
 */
function logAccess(request: FastifyRequest, reply: FastifyReply): void {
  const route = request.routeOptions.url;
  const line = {
    method: request.method, route: route ?? null, ...(route ? {} : { path: pathOf(request.url) }),
    status: reply.statusCode, ms: Math.round(reply.elapsedTime),
  };
  if (reply.statusCode >= 500) request.log.error(line, 'request completed');
  else if (QUIET_ROUTES.has(route)) request.log.debug(line, 'request completed');
  else request.log.info(line, 'request completed');
}

/** The path of a request target without its query, cut to a length fit for a log line. */
export const pathOf = (url: string): string => url.split('?', 1)[0]!.slice(0, 200);

/**
 * A request Node's HTTP parser refused (broken framing, bytes not allowed in a request line or
 * header, headers over maxHeaderSize, too slow): a JSON invalid_request with the fitting status
 * (400, 431, 408), then the connection is closed, as Node itself does.
 */
export function refuseUnparsableRequest(error: ConnectionError, socket: Socket): void {
  if (error.code === 'ECONNRESET' || socket.destroyed) return;
  const status = error.code === 'HPE_HEADER_OVERFLOW' ? 431 : error.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400;
  const description = status === 431 ? 'The request headers are too large.' : status === 408 ? 'The request took too long.' : MALFORMED.error_description;
  const body = JSON.stringify({ error: 'invalid_request', error_description: description });
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  const head = `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n`;
  // Closed once the answer is flushed; nothing more is read from a connection in this state.
  socket.write(`${head}${body}`, () => socket.destroy());
}

/**
 * Maps fastify's own client errors to their 4xx, and a database or NATS that is away to 503
 * temporarily_unavailable; anything else is a logged 500 with no detail.
 */
export function genericErrorHandler(error: FastifyError, request: FastifyRequest, reply: FastifyReply) {
  const status = clientErrorStatus(error);
  if (status) return reply.code(status).send({ error: 'invalid_request', error_description: 'The request is malformed.' });
  if (isUnavailable(error)) {
    request.log.warn({ reqId: request.id, detail: error.message }, 'a dependency is unavailable');
    return reply.code(503).header('retry-after', '1').send({ error: 'temporarily_unavailable', error_description: 'The service is temporarily unavailable, try again later.' });
  }
  request.log.error({ err: error, reqId: request.id }, 'unexpected error');
  return reply.code(500).send({ error: 'server_error', error_description: 'The server could not complete the request.' });
}

/** True when `error` says a dependency (the database, or NATS as an OAuthError) is away for now, not a bug. */
export const isUnavailable = (error: unknown): boolean =>
  isDatabaseUnavailable(error) || (isOAuthError(error) && error.code === 'temporarily_unavailable');

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

/** Starts listening and returns the port actually bound (the configured one, or the one picked for 0). */
export async function listen(app: FastifyInstance, host: string, port: number): Promise<number> {
  await app.listen({ host, port });
  const address = app.server.address();
  return typeof address === 'object' && address ? address.port : port;
}
