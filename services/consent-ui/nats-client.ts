// The NATS requests consent-ui makes: describe and decide a pending authorization request
// (authorize-service) and end a client's grants for an owner (token-service). Each carries the
// HTTP request id and a deadline; a timeout or an absent service is temporarily_unavailable.
import type { NatsConnection } from '@nats-io/nats-core';
import { natsRequest } from '#shared/nats/request.ts';
import { Subjects } from '#shared/nats/subjects.ts';
import { checker } from '#shared/contracts/checker.ts';
import { AuthorizationDescribeReplySchema, type AuthorizationDescribeRequest } from '#shared/contracts/authorization-describe.ts';
import { AuthorizationDecideReplySchema, type AuthorizationDecideRequest } from '#shared/contracts/authorization-decide.ts';
import { ConsentRevokeReplySchema, type ConsentRevokeRequest } from '#shared/contracts/consent-revoke.ts';

const describeReply = checker(AuthorizationDescribeReplySchema);
const decideReply = checker(AuthorizationDecideReplySchema);
const revokeReply = checker(ConsentRevokeReplySchema);

/** What the owner is asked about: the client and the description of every requested scope. */
export type AuthorizationDescription = { clientId: string; clientName: string; scopes: { name: string; description: string }[] };

export type Decision = { handle: string; approve: boolean; sub: string; username: string; authTime: Date };

export type NatsClient = {
  describeAuthorization(handle: string, reqId: string): Promise<AuthorizationDescription>;
  /** Returns where to send the browser: the client's redirect URI with a code or access_denied. */
  decideAuthorization(decision: Decision, reqId: string): Promise<string>;
  /** Ends every refresh token family and access token of the client for the owner; returns the families ended. */
  revokeConsent(sub: string, clientId: string, reqId: string): Promise<number>;
};

export function createNatsClient(nc: NatsConnection, timeoutMs: number): NatsClient {
  return {
    async describeAuthorization(handle, reqId) {
      const body: AuthorizationDescribeRequest = { handle };
      const reply = await natsRequest(nc, Subjects.authorizationDescribe, body, describeReply, { reqId, timeoutMs });
      return { clientId: reply.client_id, clientName: reply.client_name, scopes: reply.scopes };
    },
    async decideAuthorization(decision, reqId) {
      const body: AuthorizationDecideRequest = {
        handle: decision.handle,
        decision: decision.approve ? 'approve' : 'deny',
        sub: decision.sub,
        username: decision.username,
        auth_time: Math.floor(decision.authTime.getTime() / 1000),
      };
      return (await natsRequest(nc, Subjects.authorizationDecide, body, decideReply, { reqId, timeoutMs })).redirect_to;
    },
    async revokeConsent(sub, clientId, reqId) {
      const body: ConsentRevokeRequest = { sub, client_id: clientId };
      return (await natsRequest(nc, Subjects.consentRevoke, body, revokeReply, { reqId, timeoutMs })).revoked_families;
    },
  };
}
