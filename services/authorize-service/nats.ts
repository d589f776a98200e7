// NATS endpoints of authorize-service: consent-ui submits the decision on a pending request (the reply
// names the client and scopes decided on); token-service hands over the pushed authorization requests
// (RFC 9126) of the clients it authenticated. describe (what a pending request is) is answered for
// consent-ui instances of earlier releases during a rolling upgrade: consent-ui now reads the handle.
import type { Service } from '@nats-io/services';
import type { Logger } from '#shared/logger.ts';
import { addEndpoint } from '#shared/nats/add-endpoint.ts';
import { Subjects } from '#shared/nats/subjects.ts';
import { checker } from '#shared/contracts/checker.ts';
import { AuthorizationDescribeRequestSchema, type AuthorizationDescribeReply } from '#shared/contracts/authorization-describe.ts';
import { AuthorizationDecideRequestSchema, type AuthorizationDecideReply } from '#shared/contracts/authorization-decide.ts';
import { describeRequest, type DescribeDeps } from '#shared/grants/describe-request.ts';
import { AuthorizationPushRequestSchema, type AuthorizationPushReply } from '#shared/contracts/authorization-push.ts';
import { decideAuthorization, type Deps as DecideDeps } from './decide-authorization.ts';
import { pushAuthorizationRequest, type Deps as PushDeps } from './push-authorization-request.ts';
import type { PushedParams } from './pushed-requests.ts';

export function registerEndpoints(service: Service, log: Logger, deps: { describe: DescribeDeps; decide: DecideDeps; push: PushDeps }): void {
  addEndpoint(service, log, {
    name: 'describe',
    subject: Subjects.authorizationDescribe,
    schemaName: `${Subjects.authorizationDescribe}/1`,
    request: checker(AuthorizationDescribeRequestSchema),
    handle: async ({ handle }): Promise<AuthorizationDescribeReply> => {
      const d = await describeRequest(deps.describe, handle);
      const resources = d.resources.length > 0 ? { resources: d.resources } : {};
      return { client_id: d.clientId, client_name: d.clientName, scopes: d.scopes, expires_at: Math.floor(d.expiresAt.getTime() / 1000), ...resources };
    },
  });
  addEndpoint(service, log, {
    name: 'decide',
    subject: Subjects.authorizationDecide,
    schemaName: `${Subjects.authorizationDecide}/1`,
    request: checker(AuthorizationDecideRequestSchema),
    handle: async (request): Promise<AuthorizationDecideReply> => {
      const decided = await decideAuthorization(deps.decide, {
        handle: request.handle,
        approve: request.decision === 'approve',
        sub: request.sub,
        username: request.username,
        authTime: new Date(request.auth_time * 1000),
      });
      const approved = decided.approved ? { grant_id: decided.approved.grantId, decided_at: decided.approved.decidedAt.getTime() } : {};
      return { redirect_to: decided.redirectTo, client_id: decided.clientId, scopes: decided.scopes, ...approved };
    },
  });
  addEndpoint(service, log, {
    name: 'push',
    subject: Subjects.authorizationPush,
    schemaName: `${Subjects.authorizationPush}/1`,
    request: checker(AuthorizationPushRequestSchema),
    handle: async ({ client_id: clientId, params }): Promise<AuthorizationPushReply> => {
      // The schema admits only the known parameters, each a string (resource a list); JSON holds no undefined.
      const pushed = await pushAuthorizationRequest(deps.push, { clientId, params: params as PushedParams });
      return { request_uri: pushed.requestUri, expires_in: pushed.expiresIn };
    },
  });
}
