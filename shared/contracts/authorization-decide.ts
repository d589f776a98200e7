// oauth.authorization.decide/1 — consent-ui submits the resource owner's decision; the reply is
// where to send the browser (the client's redirect URI with a code, or with access_denied), and
// what was decided on: the client and the scopes of the request, which consent-ui records as the
// owner's grant without asking for the request again, and on approval the grant and its time.
import { Type, type Static } from '@sinclair/typebox';
import { ClientId, EpochMs, EpochSeconds, Handle, ScopeToken, Subject, Username } from './common.ts';

export const AuthorizationDecideRequestSchema = Type.Object({
  handle: Handle,
  decision: Type.Union([Type.Literal('approve'), Type.Literal('deny')]),
  sub: Subject,
  username: Username,
  auth_time: EpochSeconds,
}, { additionalProperties: false });
export type AuthorizationDecideRequest = Static<typeof AuthorizationDecideRequestSchema>;

export const AuthorizationDecideReplySchema = Type.Object({
  redirect_to: Type.String(),
  /** Added within version 1, so optional: an earlier authorize-service does not send it. */
  client_id: Type.Optional(ClientId),
  /** The requested scopes (those of the code on approval). Added within version 1, so optional. */
  scopes: Type.Optional(Type.Array(ScopeToken)),
  /**
   * On approval: the grant and when it was decided (ms since the epoch), the same when the same
   * decision is sent again, so that consent-ui reports the remembered consent once. Added within
   * version 1, so optional.
   */
  grant_id: Type.Optional(Type.String({ minLength: 1, maxLength: 128, pattern: '^[A-Za-z0-9_-]+$' })),
  decided_at: Type.Optional(EpochMs),
});
export type AuthorizationDecideReply = Static<typeof AuthorizationDecideReplySchema>;
