// A typed wrapper over the NATS services framework: parse, validate, call one handler, reply.
// The framework does not await handlers, so every failure is caught here and still answered.
import type { Service, ServiceMsg } from '@nats-io/services';
import type { TSchema, Static } from '@sinclair/typebox';
import { randomUUID } from 'node:crypto';
import type { Checker } from '#shared/contracts/checker.ts';
import type { Logger } from '#shared/logger.ts';
import { isDatabaseUnavailable } from '#shared/mongo.ts';
import { isOAuthError, unavailable } from '#shared/oauth-error.ts';
import { readRequestId, REQUEST_ID, TRACEPARENT } from './headers.ts';
import { endSpan, runInSpan, startServerSpan, tracingOn } from '#shared/tracing.ts';

export type EndpointContext = { reqId: string; log: Logger };

export type EndpointDefinition<S extends TSchema, R> = {
  /** Endpoint name shown in $SRV.INFO. */
  name: string;
  subject: string;
  /** Schema name and version, e.g. "oauth.token.validate/1". */
  schemaName: string;
  request: Checker<S>;
  /** Reply body sent with the service error when a request does not match the schema. */
  invalidRequestReply?: unknown;
  handle(request: Static<S>, context: EndpointContext): Promise<R>;
};

/** A reply's bytes. Buffer.from takes a small string's bytes from Node's pool: a fifth of TextEncoder's cost. */
const jsonBytes = (value: unknown): Buffer => Buffer.from(JSON.stringify(value));
const decoder = new TextDecoder('utf-8', { fatal: true });

/**
 * The largest request any endpoint takes (a validate request with an 8 KiB token and 64 scopes is
 * under 20 KiB). NATS itself allows up to max_payload (1 MB); anything larger than this is refused
 * before it is decoded or parsed, so no request costs more than a small one to turn away.
 */
export const MAX_REQUEST_BYTES = 64 * 1024;

/**
 * Replies go only to inboxes. A requester names its reply subject, and a service answering there
 * would publish wherever it is told (into `oauth.audit.>`, onto a broadcast subject…); every
 * requester of ours asks from `_INBOX.<user>.…` (deploy/nats.conf, which also refuses the rest).
 */
export const REPLY_INBOX_PREFIX = '_INBOX.';

export const isInboxReply = (reply: string | undefined): boolean =>
  reply !== undefined && reply.startsWith(REPLY_INBOX_PREFIX) && reply.length > REPLY_INBOX_PREFIX.length;

/**
 * Requests being handled, per service: the framework does not await handlers, so a service that
 * stops (its subscriptions drained) waits here until every request it took has been answered.
 */
export class InFlight {
  #count = 0;
  #idle: (() => void)[] = [];

  get size(): number {
    return this.#count;
  }

  enter(): void {
    this.#count++;
  }

  leave(): void {
    if (--this.#count === 0) for (const resolve of this.#idle.splice(0)) resolve();
  }

  /** Resolves once nothing is in flight. */
  idle(): Promise<void> {
    return this.#count === 0 ? Promise.resolve() : new Promise((resolve) => this.#idle.push(resolve));
  }
}

const inFlightOf = new WeakMap<Service, InFlight>();

/** Told of every request one endpoint handled (metrics): its outcome (ok, an OAuth error code, internal_error) and duration. */
export type RequestObserver = (outcome: string, seconds: number) => void;
/** Makes the observer of each endpoint as it is added. */
export type EndpointObserver = (endpoint: string, subject: string) => RequestObserver;
const observerOf = new WeakMap<Service, EndpointObserver>();

/** Reports the requests of each endpoint of `service` added from now on to the observer `observer` makes for it (service-base wires metrics here). */
export function observeEndpoints(service: Service, observer: EndpointObserver): void {
  observerOf.set(service, observer);
}

/** The requests in flight at `service`'s endpoints (created on first use). */
export function inFlight(service: Service): InFlight {
  let tracker = inFlightOf.get(service);
  if (!tracker) inFlightOf.set(service, (tracker = new InFlight()));
  return tracker;
}

export function addEndpoint<S extends TSchema, R>(service: Service, log: Logger, definition: EndpointDefinition<S, R>): void {
  const tracker = inFlight(service);
  const observe = observerOf.get(service)?.(definition.name, definition.subject);
  service.addEndpoint(definition.name, {
    subject: definition.subject,
    metadata: { schema: definition.schemaName },
    handler: (error, msg) => {
      if (error) {
        log.error({ err: error, endpoint: definition.name }, 'nats endpoint stopped');
        return;
      }
      if (!isInboxReply(msg.reply)) {
        // Not answered, not handled: no reply can be sent anywhere but an inbox, and nothing is done for a request without one.
        log.warn({ endpoint: definition.name, reply: msg.reply?.slice(0, 200) }, 'nats request ignored: its reply subject is not an inbox');
        return;
      }
      void answer(definition, msg, log, tracker, observe);
    },
  });
}

/**
 * Serves one message, counted in flight until it is answered, and reports how it ended. One async
 * function, not a chain of promise handlers: a message costs one promise here. It never rejects:
 * serve answers every failure itself, and the catch is for one it did not foresee, so that no
 * message ends in an unhandled rejection (which stops the process) or in silence.
 */
async function answer<S extends TSchema, R>(
  definition: EndpointDefinition<S, R>, msg: ServiceMsg, log: Logger, tracker: InFlight, observe: RequestObserver | undefined,
): Promise<void> {
  const started = performance.now();
  let outcome: Outcome = INTERNAL_ERROR;
  tracker.enter();
  try {
    outcome = await (tracingOn() ? tracedServe(definition, msg, log) : serve(definition, msg, log));
  } catch (failure) {
    answerUnforeseen(failure, definition.name, msg, log);
  } finally {
    tracker.leave();
  }
  try {
    observe?.(outcome, (performance.now() - started) / 1000);
  } catch {
    // a metric that cannot be recorded is no reason to stop the process
  }
}

function answerUnforeseen(failure: unknown, endpoint: string, msg: ServiceMsg, log: Logger): void {
  try {
    msg.respondError(500, 'internal error');
  } catch {
    // nothing more can be done for this message
  }
  try {
    log.error({ err: failure, endpoint }, 'nats request failed');
  } catch {
    // nor for its log line
  }
}

/**
 * A request's id and logger, both made when first needed: most requests log nothing, and a caller
 * that sent no id gets a new one only then. Building a child logger per message (with redaction of
 * its bindings) costs more than a cached token validation. A class, not an object literal with a
 * getter: V8 makes such a literal a dictionary-mode object, and with one per message each scavenge
 * promoted megabytes, every message's getter, closure and request id, into the old generation,
 * stopping validation-service 10 ms at a time (docs/performance.md, 7 December).
 */
class RequestContext implements EndpointContext {
  #reqId: string | undefined;
  readonly #parent: Logger;
  readonly #subject: string;
  #child: Logger | undefined;

  constructor(callersReqId: string | undefined, parent: Logger, subject: string) {
    this.#reqId = callersReqId;
    this.#parent = parent;
    this.#subject = subject;
  }

  get reqId(): string {
    return (this.#reqId ??= randomUUID());
  }

  get log(): Logger {
    return (this.#child ??= this.#parent.child({ reqId: this.reqId, subject: this.#subject }));
  }
}

/** How a request ended, as metrics label it: ok, the OAuth error code answered, or internal_error. */
type Outcome = string;
const INTERNAL_ERROR: Outcome = 'internal_error';

async function serve<S extends TSchema, R>(definition: EndpointDefinition<S, R>, msg: ServiceMsg, log: Logger): Promise<Outcome> {
  const context = new RequestContext(requestIdOf(msg), log, definition.subject);
  const request = msg.data.length > MAX_REQUEST_BYTES ? undefined : definition.request.parse(parseJson(msg.data));
  if (request === undefined) {
    context.log.info('nats request refused: does not match the schema');
    const body = definition.invalidRequestReply ?? { error: 'invalid_request', error_description: 'The request does not match the schema.' };
    msg.respondError(400, 'invalid_request', jsonBytes(body));
    return 'invalid_request';
  }
  try {
    const reply = await definition.handle(request, context);
    msg.respond(jsonBytes(reply));
    return 'ok';
  } catch (caught) {
    // A database that is away is temporarily_unavailable to the caller (a 503), not an internal error.
    const error = isDatabaseUnavailable(caught) ? unavailable(`database unavailable: ${(caught as Error).message}`) : caught;
    if (isOAuthError(error)) {
      context.log.info({ error: error.code, detail: error.detail }, 'nats request refused');
      msg.respondError(error.status, error.code, jsonBytes(error.toJSON()));
      return error.code;
    }
    context.log.error({ err: error }, 'nats request failed');
    msg.respondError(500, 'internal error');
    return INTERNAL_ERROR;
  }
}

/** serve, as a server span: the child of the requester's span when it sent a traceparent. */
async function tracedServe<S extends TSchema, R>(definition: EndpointDefinition<S, R>, msg: ServiceMsg, log: Logger): Promise<Outcome> {
  const attributes = { 'messaging.system': 'nats', 'messaging.destination.name': definition.subject, 'messaging.operation.type': 'process' };
  const span = startServerSpan(`process ${definition.subject}`, attributes, headerOf(msg, TRACEPARENT));
  let outcome: Outcome = INTERNAL_ERROR;
  try {
    outcome = await runInSpan(span, () => serve(definition, msg, log));
    return outcome;
  } finally {
    endSpan(span, { 'oauth.outcome': outcome }, outcome === INTERNAL_ERROR);
  }
}

/** A header of `msg`, if it has one that decodes. */
function headerOf(msg: ServiceMsg, name: string): string | undefined {
  try {
    return msg.headers?.get(name) || undefined;
  } catch {
    return undefined;
  }
}

/**
 * The caller's request id, when it sent a plausible one. Headers are advisory: the client library
 * throws while decoding a malformed header block (a space in a header name), and such a message is
 * still answered, as if it had no headers.
 */
function requestIdOf(msg: ServiceMsg): string | undefined {
  return readRequestId(headerOf(msg, REQUEST_ID));
}

/** JSON from a payload, or undefined for invalid UTF-8, invalid JSON or an empty payload. */
export function parseJson(data: Uint8Array): unknown {
  if (data.length === 0) return undefined;
  try {
    return JSON.parse(decoder.decode(data));
  } catch {
    return undefined;
  }
}
