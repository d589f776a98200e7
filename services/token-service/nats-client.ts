// The NATS request token-service makes: a pushed authorization request (RFC 9126), from a client it
// authenticated, to authorize-service (oauth.authorization.push). It carries the HTTP request id and
// a deadline; a timeout or an absent authorize-service is temporarily_unavailable (503), and
// authorize-service's refusal comes back as the OAuthError it answered (shared/nats/request.ts).
import type { NatsConnection } from '@nats-io/nats-core';
import { natsRequest } from '#shared/nats/request.ts';
import { Subjects } from '#shared/nats/subjects.ts';
import { checker } from '#shared/contracts/checker.ts';
import { AuthorizationPushReplySchema, type AuthorizationPushRequest } from '#shared/contracts/authorization-push.ts';
import type { Deps as PushDeps } from './push-authorization.ts';

const pushReply = checker(AuthorizationPushReplySchema);

export function authorizationPusher(nc: NatsConnection, timeoutMs: number): PushDeps['forward'] {
  return async ({ clientId, params }, reqId) => {
    const body: AuthorizationPushRequest = { client_id: clientId, params };
    const reply = await natsRequest(nc, Subjects.authorizationPush, body, pushReply, { reqId, timeoutMs });
    return { requestUri: reply.request_uri, expiresIn: reply.expires_in };
  };
}
