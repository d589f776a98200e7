// oauth.authorization.push/1 — token-service, having authenticated a client at POST /par (RFC 9126),
// hands authorize-service (the owner of authorization requests) the parameters that client pushed.
// Only token-service may publish it (deploy/nats.conf), so `client_id` is an authenticated client;
// the client's secret is never in it.
import { Type, type Static } from '@sinclair/typebox';
import { MAX_SEALED_LENGTH } from '#shared/grants/sealed-state.ts';
import { ClientId, ResourceIndicators } from './common.ts';

/** RFC 9126 §2.2: a request_uri is a URN of this form, with the sealed request after the prefix. */
export const REQUEST_URI_PREFIX = 'urn:ietf:params:oauth:request_uri:';

const Param = (maxLength: number) => Type.Optional(Type.String({ minLength: 1, maxLength }));

/**
 * The authorization request's parameters as pushed (RFC 9126 §2.1), each with a ceiling; `resource`
 * repeats (RFC 8707). `client_id` is the one the body named, if any (it must be the authenticated
 * client's), and `request_uri` is carried only to be refused (§2.1). state's own limit is checked as at
 * /authorize. Also the form schema of POST /par, so both sides bound the same parameters.
 */
export const PushedAuthorizationFields = {
  response_type: Param(64),
  client_id: Param(128),
  redirect_uri: Param(2048),
  scope: Param(4096),
  state: Param(4096),
  code_challenge: Param(128),
  code_challenge_method: Param(16),
  request_uri: Param(16_384),
  resource: Type.Optional(ResourceIndicators),
};
export const PushedAuthorizationParamsSchema = Type.Object(PushedAuthorizationFields, { additionalProperties: false });
export type PushedAuthorizationParams = Static<typeof PushedAuthorizationParamsSchema>;

export const AuthorizationPushRequestSchema = Type.Object({
  /** The client token-service authenticated. */
  client_id: ClientId,
  params: PushedAuthorizationParamsSchema,
}, { additionalProperties: false });
export type AuthorizationPushRequest = Static<typeof AuthorizationPushRequestSchema>;

/** RFC 9126 §2.2's answer; a refusal is a service error carrying the RFC 6749 `{error, error_description}`. */
export const AuthorizationPushReplySchema = Type.Object({
  request_uri: Type.String({ minLength: REQUEST_URI_PREFIX.length + 1, maxLength: REQUEST_URI_PREFIX.length + MAX_SEALED_LENGTH,
    pattern: '^urn:ietf:params:oauth:request_uri:[A-Za-z0-9_-]+$' }),
  /** Seconds; the contract says 60 at most. */
  expires_in: Type.Integer({ minimum: 1, maximum: 60 }),
});
export type AuthorizationPushReply = Static<typeof AuthorizationPushReplySchema>;
