// A typed wrapper over the NATS services framework: parse, validate, call one handler, reply.
// The framework does not await handlers, so every failure is caught here and still answered.
import type { Service, ServiceMsg } from '@nats-io/services';
import type { TSchema, Static } from '@sinclair/typebox';
import { randomUUID } from 'node:crypto';
import type { Checker } from '#shared/contracts/checker.ts';
import type { Logger } from '#shared/logger.ts';
import { isOAuthError } from '#shared/oauth-error.ts';
import { readRequestId, REQUEST_ID } from './headers.ts';

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

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

export function addEndpoint<S extends TSchema, R>(service: Service, log: Logger, definition: EndpointDefinition<S, R>): void {
  service.addEndpoint(definition.name, {
    subject: definition.subject,
    metadata: { schema: definition.schemaName },
    handler: (error, msg) => {
      if (error) {
        log.error({ err: error, endpoint: definition.name }, 'nats endpoint stopped');
        return;
      }
      void serve(definition, msg, log);
    },
  });
}

async function serve<S extends TSchema, R>(definition: EndpointDefinition<S, R>, msg: ServiceMsg, log: Logger): Promise<void> {
  const reqId = readRequestId(msg.headers?.get(REQUEST_ID)) ?? randomUUID();
  // The child logger is made only when something is logged: building one per message (with
  // redaction of its bindings) costs more than a cached token validation.
  let child: Logger | undefined;
  const context: EndpointContext = { reqId, get log() { return (child ??= log.child({ reqId, subject: definition.subject })); } };
  const request = definition.request.parse(parseJson(msg.data));
  if (request === undefined) {
    context.log.info('nats request refused: does not match the schema');
    const body = definition.invalidRequestReply ?? { error: 'invalid_request', error_description: 'The request does not match the schema.' };
    msg.respondError(400, 'invalid_request', encoder.encode(JSON.stringify(body)));
    return;
  }
  try {
    const reply = await definition.handle(request, context);
    msg.respond(encoder.encode(JSON.stringify(reply)));
  } catch (error) {
    if (isOAuthError(error)) {
      context.log.info({ error: error.code, detail: error.detail }, 'nats request refused');
      msg.respondError(error.status, error.code, encoder.encode(JSON.stringify(error.toJSON())));
      return;
    }
    context.log.error({ err: error }, 'nats request failed');
    msg.respondError(500, 'internal error');
  }
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
