// An example resource server: a small orders API that asks the authorization server whether each
// request's bearer token may reach the resource, over NATS (oauth.token.validate), on every call.
//
//   PORT=9090 NATS_URL=nats://127.0.0.1:4222 node examples/resource-server/server.ts
//   curl -H "Authorization: Bearer $ACCESS_TOKEN" http://127.0.0.1:9090/orders/42
//
// It depends only on fastify and the NATS client, as a resource server of your own would.
import Fastify, { type FastifyReply, type FastifyRequest } from 'fastify';
import { randomUUID } from 'node:crypto';
import { connect } from '@nats-io/transport-node';
import type { NatsConnection } from '@nats-io/nats-core';

export type ResourceServerOptions = {
  port?: number;
  host?: string;
  natsUrl?: string;
  /** NATS credentials where the server requires them (deploy/nats.conf: the `resource-server` user). */
  natsUser?: string;
  natsPassword?: string;
  /** The scope a token needs to read orders. */
  scope?: string;
  /** How long to wait for validation before answering 503. */
  validateTimeoutMs?: number;
};

/** The reply of oauth.token.validate (see the contract); unknown fields are ignored. */
type Validation = {
  active: boolean;
  allowed: boolean;
  error?: 'invalid_request' | 'invalid_token' | 'insufficient_scope' | 'access_denied';
  sub?: string;
  username?: string;
  client_id?: string;
  scope?: string;
};

// RFC 6750 §2.1: b64token syntax of the credentials in "Authorization: Bearer <token>".
const BEARER = /^Bearer ([A-Za-z0-9\-._~+/]+=*)$/i;
const REALM = 'orders';

export async function startResourceServer(options: ResourceServerOptions = {}): Promise<{ port: number; stop(): Promise<void> }> {
  const scope = options.scope ?? 'orders.read';
  const timeout = options.validateTimeoutMs ?? 2000;
  const nc = await connect({
    servers: options.natsUrl ?? 'nats://127.0.0.1:4222', name: 'example-resource-server', maxReconnectAttempts: -1,
    ...(options.natsUser ? { user: options.natsUser, pass: options.natsPassword } : {}),
    // Replies on an inbox of the resource-server role: deploy/nats.conf lets that user read nothing else.
    inboxPrefix: `_INBOX.resource-server.${randomUUID()}`,
  });
  const app = Fastify({ logger: false });

  // Every route answers only after the authorization server said yes for this token and resource.
  const authorize = (request: FastifyRequest, reply: FastifyReply, resource: string) => checkAccess(nc, request, reply, { scope, resource, timeout });

  app.get('/orders', async (request, reply) => {
    const who = await authorize(request, reply, '/orders');
    if (!who) return reply;
    return { username: who.username, orders: [{ id: '42', item: 'coffee beans' }, { id: '43', item: 'tea' }] };
  });

  app.get<{ Params: { id: string } }>('/orders/:id', async (request, reply) => {
    if (!/^[A-Za-z0-9_-]{1,64}$/.test(request.params.id)) return reply.code(404).send({ error: 'not_found' });
    const who = await authorize(request, reply, `/orders/${request.params.id}`);
    if (!who) return reply;
    return { username: who.username, order: { id: request.params.id, item: 'coffee beans', owner: who.sub } };
  });

  await app.listen({ host: options.host ?? '127.0.0.1', port: options.port ?? 9090 });
  const address = app.server.address();
  return {
    port: typeof address === 'object' && address ? address.port : options.port ?? 9090,
    stop: async () => {
      await app.close();
      await nc.drain().catch(() => nc.close());
    },
  };
}

/**
 * The validation for this request, or undefined after answering the refusal: 401 for a missing or
 * inactive token, 403 when the token may not reach the resource (RFC 6750 §3.1), 503 when the
 * authorization server does not answer in time.
 */
async function checkAccess(
  nc: NatsConnection,
  request: FastifyRequest,
  reply: FastifyReply,
  want: { scope: string; resource: string; timeout: number },
): Promise<Validation | undefined> {
  const header = request.headers.authorization;
  if (header === undefined) {
    // §3.1: a request without authentication information gets no error code.
    refuse(reply, 401, `Bearer realm="${REALM}"`, { error: 'unauthorized' });
    return undefined;
  }
  const match = BEARER.exec(header);
  if (!match) {
    refuse(reply, 400, `Bearer realm="${REALM}", error="invalid_request"`, { error: 'invalid_request' });
    return undefined;
  }
  let validation: Validation;
  try {
    const msg = await nc.request('oauth.token.validate', JSON.stringify({ token: match[1], scopes: [want.scope], resource: want.resource }), { timeout: want.timeout });
    validation = msg.json<Validation>();
  } catch {
    // Timeout or no validation-service listening: never hang, never guess.
    reply.code(503).header('retry-after', '1').send({ error: 'temporarily_unavailable' });
    return undefined;
  }
  if (!validation.active) {
    const error = validation.error === 'invalid_request' ? 'invalid_request' : 'invalid_token';
    refuse(reply, error === 'invalid_request' ? 400 : 401, `Bearer realm="${REALM}", error="${error}"`, { error });
    return undefined;
  }
  if (!validation.allowed) {
    const error = validation.error === 'insufficient_scope' ? 'insufficient_scope' : 'access_denied';
    const challenge = error === 'insufficient_scope' ? `Bearer realm="${REALM}", error="insufficient_scope", scope="${want.scope}"` : `Bearer realm="${REALM}", error="access_denied"`;
    refuse(reply, 403, challenge, { error });
    return undefined;
  }
  return validation;
}

function refuse(reply: FastifyReply, status: number, challenge: string, body: { error: string }): void {
  reply.code(status).header('www-authenticate', challenge).header('cache-control', 'no-store').send(body);
}


if (import.meta.main) {
  const port = Number(process.env.PORT ?? 9090);
  const server = await startResourceServer({
    port,
    natsUrl: process.env.NATS_URL,
    natsUser: process.env.NATS_USER,
    natsPassword: process.env.NATS_PASSWORD,
    scope: process.env.ORDERS_SCOPE,
    host: process.env.HOST,
  });
  process.stdout.write(`example resource server on http://127.0.0.1:${server.port} (GET /orders, GET /orders/:id)\n`);
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => void server.stop().then(() => process.exit(0)));
}
