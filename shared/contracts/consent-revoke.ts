// oauth.consent.revoke/1 — consent-ui asks token-service to end every grant of a client for an owner.
import { Type, type Static } from '@sinclair/typebox';
import { ClientId, Subject } from './common.ts';

export const ConsentRevokeRequestSchema = Type.Object({
  sub: Subject,
  client_id: ClientId,
  /**
   * When the withdrawn consent was last given (epoch ms, consent-ui's clock): the cut-off is at
   * least this, so it covers every approval through the consent whatever the two clocks say.
   * Added within version 1, so optional; a token-service older than it refuses it, so upgrade that first.
   */
  consented_at_ms: Type.Optional(Type.Integer({ minimum: 0 })),
}, { additionalProperties: false });
export type ConsentRevokeRequest = Static<typeof ConsentRevokeRequestSchema>;

export const ConsentRevokeReplySchema = Type.Object({ revoked_families: Type.Integer({ minimum: 0 }) });
export type ConsentRevokeReply = Static<typeof ConsentRevokeReplySchema>;
