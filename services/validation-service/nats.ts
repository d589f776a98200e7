// NATS endpoint of validation-service: oauth.token.validate (queue group "q", so instances share the load).
import type { Service } from '@nats-io/services';
import type { Logger } from '#shared/logger.ts';
import { addEndpoint } from '#shared/nats/add-endpoint.ts';
import { Subjects } from '#shared/nats/subjects.ts';
import { checker } from '#shared/contracts/checker.ts';
import { TokenValidateRequestSchema, type TokenValidateReply } from '#shared/contracts/token-validate.ts';
import { validateToken, type Deps, type Validation } from './validate-token.ts';

const request = checker(TokenValidateRequestSchema);

/** The contract's answer to a request that does not match the schema. */
export const INVALID_REQUEST_REPLY: TokenValidateReply = { active: false, allowed: false, error: 'invalid_request' };
const INACTIVE_REPLY: TokenValidateReply = { active: false, allowed: false, error: 'invalid_token' };

export function registerEndpoints(service: Service, log: Logger, deps: Deps): void {
  addEndpoint(service, log, {
    name: 'validate',
    subject: Subjects.tokenValidate,
    schemaName: `${Subjects.tokenValidate}/1`,
    request,
    invalidRequestReply: INVALID_REQUEST_REPLY,
    handle: async (req) => toReply(await validateToken(deps, req)),
  });
}

export function toReply(validation: Validation): TokenValidateReply {
  // An inactive token reveals nothing about itself.
  if (!validation.active) return validation.error === 'invalid_dpop_proof' ? { ...INACTIVE_REPLY, error: 'invalid_dpop_proof' } : INACTIVE_REPLY;
  const { token, user } = validation;
  return {
    active: true,
    allowed: validation.allowed,
    ...(validation.allowed ? {} : { error: validation.error }),
    sub: token.sub,
    ...(user ? { username: user.username } : {}),
    client_id: token.clientId,
    scope: token.scope,
    exp: token.exp,
    iat: token.iat,
    jti: token.jti,
    aud: token.aud,
    iss: token.iss,
    groups: user?.groups ?? [],
    // A DPoP-bound token says so (RFC 9449 §6); a bearer token's reply is as it always was.
    ...(token.jkt === undefined ? {} : { token_type: 'DPoP', cnf: { jkt: token.jkt } }),
  };
}
