// oauth.revocation.recorded — broadcast to every validation-service and token-service instance when something is revoked.
import { Type, type Static } from '@sinclair/typebox';
import { EpochMs, EpochSeconds } from './common.ts';

// subject and client (operators ending a user's or a client's access): every token of that
// resource owner, or issued to that client, up to `issued_before`.
export const RevocationKinds = ['jti', 'grant', 'subject_client', 'subject', 'client'] as const;

export const RevocationRecordedSchema = Type.Object({
  kind: Type.Union(RevocationKinds.map((k) => Type.Literal(k))),
  /** jti, grant id, `${sub} ${client_id}`, sub (subject) or client_id (client). */
  key: Type.String({ minLength: 1, maxLength: 512 }),
  /** Tokens issued at or before this time (epoch seconds) are revoked; for jti/grant every token. */
  issued_before: EpochSeconds,
  /** The same instant in epoch milliseconds (refresh tokens carry their grant's start that precisely). */
  issued_before_ms: Type.Optional(EpochMs),
  /** When the record can be forgotten (epoch seconds): every token it covers has expired. */
  expires_at: EpochSeconds,
});
export type RevocationRecorded = Static<typeof RevocationRecordedSchema>;
