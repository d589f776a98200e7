// oauth.consent.revoke/1 — consent-ui asks token-service to end every grant of a client for an owner.
import { Type, type Static } from '@sinclair/typebox';
import { ClientId, Subject } from './common.ts';

export const ConsentRevokeRequestSchema = Type.Object({ sub: Subject, client_id: ClientId }, { additionalProperties: false });
export type ConsentRevokeRequest = Static<typeof ConsentRevokeRequestSchema>;

export const ConsentRevokeReplySchema = Type.Object({ revoked_families: Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER }) });
export type ConsentRevokeReply = Static<typeof ConsentRevokeReplySchema>;
