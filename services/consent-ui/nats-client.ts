// The NATS requests consent-ui makes: decide a pending authorization request (authorize-service)
// and end a client's grants for an owner (token-service). Each carries the HTTP request id and a
// deadline; a timeout or an absent service is temporarily_unavailable.
import type { NatsConnection } from '@nats-io/nats-core';
import { natsRequest } from '#shared/nats/request.ts';
import { Subjects } from '#shared/nats/subjects.ts';
import { checker } from '#shared/contracts/checker.ts';
import { AuthorizationDecideReplySchema, type AuthorizationDecideRequest } from '#shared/contracts/authorization-decide.ts';
import { ConsentRevokeReplySchema, type ConsentRevokeRequest } from '#shared/contracts/consent-revoke.ts';

const decideReply = checker(AuthorizationDecideReplySchema);
const revokeReply = checker(ConsentRevokeReplySchema);

export type Decision = { handle: string; approve: boolean; sub: string; username: string; authTime: Date };

/**
 * Where to send the browser, and (from an authorize-service that says) the client and scopes decided
 * on and, on approval, the grant and when it was decided.
 */
export type DecisionOutcome = { redirectTo: string; clientId?: string; scopes?: string[]; approved?: { grantId: string; decidedAt: Date } };

export type NatsClient = {
  /** The client's redirect URI with a code or access_denied, and what was decided on. */
  decideAuthorization(decision: Decision, reqId: string): Promise<DecisionOutcome>;
  /** Ends every refresh token family and access token of the client for the owner; returns the families ended. */
  revokeConsent(sub: string, clientId: string, reqId: string): Promise<number>;
};

export function createNatsClient(nc: NatsConnection, timeoutMs: number): NatsClient {
  return {
    async decideAuthorization(decision, reqId) {
      const body: AuthorizationDecideRequest = {
        handle: decision.handle,
        decision: decision.approve ? 'approve' : 'deny',
        sub: decision.sub,
        username: decision.username,
        auth_time: Math.floor(decision.authTime.getTime() / 1000),
      };
      const reply = await natsRequest(nc, Subjects.authorizationDecide, body, decideReply, { reqId, timeoutMs });
      const approved = reply.grant_id !== undefined && reply.decided_at !== undefined
        ? { approved: { grantId: reply.grant_id, decidedAt: new Date(reply.decided_at) } }
        : {};
      return { redirectTo: reply.redirect_to, ...(reply.client_id && reply.scopes ? { clientId: reply.client_id, scopes: reply.scopes } : {}), ...approved };
    },
    async revokeConsent(sub, clientId, reqId) {
      const body: ConsentRevokeRequest = { sub, client_id: clientId };
      return (await natsRequest(nc, Subjects.consentRevoke, body, revokeReply, { reqId, timeoutMs })).revoked_families;
    },
  };
}
