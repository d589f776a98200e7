// The NATS requests consent-ui makes: describe and decide a pending authorization request
// (authorize-service) and end a client's grants for an owner (token-service). Each carries the
// HTTP request id and a deadline; a timeout or an absent service is temporarily_unavailable.
// Also the change broadcast among consent-ui instances (cached-store.ts).
import type { NatsConnection } from '@nats-io/nats-core';
import { natsRequest } from '#shared/nats/request.ts';
import { parseJson } from '#shared/nats/add-endpoint.ts';
import { Subjects } from '#shared/nats/subjects.ts';
import type { Logger } from '#shared/logger.ts';
import { checker } from '#shared/contracts/checker.ts';
import { AuthorizationDescribeReplySchema, type AuthorizationDescribeRequest } from '#shared/contracts/authorization-describe.ts';
import { AuthorizationDecideReplySchema, type AuthorizationDecideRequest } from '#shared/contracts/authorization-decide.ts';
import { ConsentRevokeReplySchema, type ConsentRevokeRequest } from '#shared/contracts/consent-revoke.ts';
import { ConsentUiChangedSchema, type ConsentUiChanged } from '#shared/contracts/consent-ui-changed.ts';
import type { ChangeBroadcast } from './cached-store.ts';

const describeReply = checker(AuthorizationDescribeReplySchema);
const decideReply = checker(AuthorizationDecideReplySchema);
const revokeReply = checker(ConsentRevokeReplySchema);
const changed = checker(ConsentUiChangedSchema);

/** What the owner is asked about: the client and the description of every requested scope. */
export type AuthorizationDescription = {
  clientId: string;
  clientName: string;
  scopes: { name: string; description: string }[];
  /** RFC 8707: the resource servers the access would be for; empty when the request names none. */
  resources: string[];
  /** When the request expires; absent from an authorize-service that does not say. */
  expiresAt?: Date;
};

export type Decision = { handle: string; approve: boolean; sub: string; username: string; authTime: Date };

/** Where to send the browser, and (from an authorize-service that says) the client and scopes decided on. */
export type DecisionOutcome = { redirectTo: string; clientId?: string; scopes?: string[] };

export type NatsClient = {
  describeAuthorization(handle: string, reqId: string): Promise<AuthorizationDescription>;
  /** The client's redirect URI with a code or access_denied, and what was decided on. */
  decideAuthorization(decision: Decision, reqId: string): Promise<DecisionOutcome>;
  /** Ends every refresh token family and access token of the client for the owner; returns the families ended. */
  revokeConsent(sub: string, clientId: string, reqId: string): Promise<number>;
};

export function createNatsClient(nc: NatsConnection, timeoutMs: number): NatsClient {
  return {
    async describeAuthorization(handle, reqId) {
      const body: AuthorizationDescribeRequest = { handle };
      const reply = await natsRequest(nc, Subjects.authorizationDescribe, body, describeReply, { reqId, timeoutMs });
      const expiresAt = reply.expires_at === undefined ? {} : { expiresAt: new Date(reply.expires_at * 1000) };
      return { clientId: reply.client_id, clientName: reply.client_name, scopes: reply.scopes, resources: reply.resources ?? [], ...expiresAt };
    },
    async decideAuthorization(decision, reqId) {
      const body: AuthorizationDecideRequest = {
        handle: decision.handle,
        decision: decision.approve ? 'approve' : 'deny',
        sub: decision.sub,
        username: decision.username,
        auth_time: Math.floor(decision.authTime.getTime() / 1000),
      };
      const reply = await natsRequest(nc, Subjects.authorizationDecide, body, decideReply, { reqId, timeoutMs });
      return { redirectTo: reply.redirect_to, ...(reply.client_id && reply.scopes ? { clientId: reply.client_id, scopes: reply.scopes } : {}) };
    },
    async revokeConsent(sub, clientId, reqId) {
      const body: ConsentRevokeRequest = { sub, client_id: clientId };
      return (await natsRequest(nc, Subjects.consentRevoke, body, revokeReply, { reqId, timeoutMs })).revoked_families;
    },
  };
}

/** oauth.consent_ui.changed: sent to every consent-ui instance (no queue group); malformed ones are ignored. */
export function consentUiChanges(nc: NatsConnection, log: Logger): ChangeBroadcast {
  return {
    publish: (event: ConsentUiChanged) => nc.publish(Subjects.consentUiChanged, JSON.stringify(event)),
    subscribe: (onChange) => nc.subscribe(Subjects.consentUiChanged, {
      callback: (_error, msg) => {
        const event = changed.parse(parseJson(msg.data));
        if (event) onChange(event);
        else log.warn('ignored a malformed consent-ui change broadcast');
      },
    }),
  };
}
