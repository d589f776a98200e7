// oauth.token.validate/1 — the public request/reply subject resource servers call.
import { Type, type Static } from '@sinclair/typebox';
import { ResourceIndicator, ScopeToken } from './common.ts';
import { MAX_PROOF_LENGTH } from '#shared/dpop/verify-dpop-proof.ts';

export const TokenValidateRequestSchema = Type.Object({
  token: Type.String({ minLength: 1, maxLength: 8192 }),
  scopes: Type.Optional(Type.Array(ScopeToken, { maxItems: 64 })),
  resource: Type.Optional(Type.String({ minLength: 1, maxLength: 2048 })),
  /** RFC 9449: the `DPoP` header the resource server received, with the request's method and URL (htm, htu). */
  dpop: Type.Optional(Type.String({ minLength: 1, maxLength: MAX_PROOF_LENGTH })),
  /** An HTTP method token (RFC 9110 §9.1). */
  method: Type.Optional(Type.String({ minLength: 1, maxLength: 32, pattern: "^[!#$%&'*+.^_`|~0-9A-Za-z-]+$" })),
  url: Type.Optional(Type.String({ minLength: 1, maxLength: 4096 })),
  /** RFC 8707: the resource server asking; a token whose `aud` does not name it is not allowed (invalid_token). */
  audience: Type.Optional(ResourceIndicator),
});
export type TokenValidateRequest = Static<typeof TokenValidateRequestSchema>;

export const TokenValidateErrors = ['invalid_request', 'invalid_token', 'insufficient_scope', 'access_denied', 'invalid_dpop_proof'] as const;

export const TokenValidateReplySchema = Type.Object({
  active: Type.Boolean(),
  allowed: Type.Boolean(),
  error: Type.Optional(Type.Union(TokenValidateErrors.map((e) => Type.Literal(e)))),
  sub: Type.Optional(Type.String()),
  username: Type.Optional(Type.String()),
  client_id: Type.Optional(Type.String()),
  scope: Type.Optional(Type.String()),
  exp: Type.Optional(Type.Integer()),
  iat: Type.Optional(Type.Integer()),
  jti: Type.Optional(Type.String()),
  aud: Type.Optional(Type.Union([Type.String(), Type.Array(Type.String())])),
  iss: Type.Optional(Type.String()),
  groups: Type.Optional(Type.Array(Type.String())),
  /** "DPoP" for a token bound to a key (RFC 9449); absent for a bearer token. */
  token_type: Type.Optional(Type.String()),
  /** RFC 9449 §6.1: the key a DPoP-bound token is bound to. */
  cnf: Type.Optional(Type.Object({ jkt: Type.String() })),
});
export type TokenValidateReply = Static<typeof TokenValidateReplySchema>;
