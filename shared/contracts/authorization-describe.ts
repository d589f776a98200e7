// oauth.authorization.describe/1 — consent-ui asks authorize-service what a pending request is.
import { Type, type Static } from '@sinclair/typebox';
import { ClientId, Handle } from './common.ts';

export const AuthorizationDescribeRequestSchema = Type.Object({ handle: Handle }, { additionalProperties: false });
export type AuthorizationDescribeRequest = Static<typeof AuthorizationDescribeRequestSchema>;

export const AuthorizationDescribeReplySchema = Type.Object({
  client_id: ClientId,
  client_name: Type.String(),
  scopes: Type.Array(Type.Object({ name: Type.String(), description: Type.String() })),
});
export type AuthorizationDescribeReply = Static<typeof AuthorizationDescribeReplySchema>;
