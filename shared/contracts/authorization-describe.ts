// oauth.authorization.describe/1 — consent-ui of earlier releases asks authorize-service what a pending
// request is (consent-ui now reads it from the handle); answered during a rolling upgrade.
import { Type, type Static } from '@sinclair/typebox';
import { MAX_RESOURCES } from '#shared/reference-data/resource-servers.ts';
import { ClientId, EpochSeconds, Handle, ResourceIndicator } from './common.ts';

export const AuthorizationDescribeRequestSchema = Type.Object({ handle: Handle }, { additionalProperties: false });
export type AuthorizationDescribeRequest = Static<typeof AuthorizationDescribeRequestSchema>;

export const AuthorizationDescribeReplySchema = Type.Object({
  client_id: ClientId,
  client_name: Type.String(),
  scopes: Type.Array(Type.Object({ name: Type.String(), description: Type.String() })),
  /**
   * When the request expires (epoch seconds, rounded down): until then consent-ui may reuse this
   * description for the pages of the request. Added within version 1, so optional.
   */
  expires_at: Type.Optional(EpochSeconds),
  /** RFC 8707: the resource servers the request names, for the consent page. Added within version 1, so optional. */
  resources: Type.Optional(Type.Array(ResourceIndicator, { maxItems: MAX_RESOURCES })),
});
export type AuthorizationDescribeReply = Static<typeof AuthorizationDescribeReplySchema>;
