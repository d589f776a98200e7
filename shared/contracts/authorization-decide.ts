// oauth.authorization.decide/1 — consent-ui submits the resource owner's decision; the reply is
// where to send the browser (the client's redirect URI with a code, or with access_denied).
import { Type, type Static } from '@sinclair/typebox';
import { Handle, Subject, Username } from './common.ts';

export const AuthorizationDecideRequestSchema = Type.Object({
  handle: Handle,
  decision: Type.Union([Type.Literal('approve'), Type.Literal('deny')]),
  sub: Subject,
  username: Username,
  auth_time: Type.Integer({ minimum: 0 }),
}, { additionalProperties: false });
export type AuthorizationDecideRequest = Static<typeof AuthorizationDecideRequestSchema>;

export const AuthorizationDecideReplySchema = Type.Object({ redirect_to: Type.String() });
export type AuthorizationDecideReply = Static<typeof AuthorizationDecideReplySchema>;
