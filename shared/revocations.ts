// The revocations collection: what validation-service must refuse. Written by token-service,
// loaded by every validation-service instance at start and kept current by broadcasts.
import type { Db } from 'mongodb';
import type { RevocationRecorded } from '#shared/contracts/revocation-recorded.ts';

export type RevocationKind = RevocationRecorded['kind'];

export type RevocationDoc = {
  _id: string; // `${kind}:${key}`
  kind: RevocationKind;
  /** jti, grant id, or `${sub} ${client_id}` for subject_client. */
  key: string;
  /** Tokens of this key issued at or before this instant are revoked. */
  issuedBefore: Date;
  /** When every token the record covers has expired; the record may then go. */
  expiresAt: Date;
  createdAt: Date;
};

export const revocationsCollection = (db: Db) => db.collection<RevocationDoc>('revocations');

export const revocationId = (kind: RevocationKind, key: string) => `${kind}:${key}`;
export const subjectClientKey = (sub: string, clientId: string) => `${sub} ${clientId}`;
