// The signing_keys collection (owned by token-service, written also by `oauth-admin keys rotate`).
// The public JWK is stored in clear for JWKS and validation; the private JWK only encrypted.
import type { Db } from 'mongodb';
import type { JWK } from 'jose';
import type { EncryptedBlob } from './key-encryption.ts';

export const SIGNING_ALG = 'ES256';

export type SigningKeyDoc = {
  _id: string; // kid
  alg: typeof SIGNING_ALG;
  publicJwk: JWK;
  privateJwkEncrypted: EncryptedBlob;
  createdAt: Date;
  /** Set when a newer key takes over: the key stays published until every token it signed expired. */
  supersededAt: Date | null;
  /** After this the key is no longer published nor accepted. */
  retireAt: Date | null;
};

export const signingKeysCollection = (db: Db) => db.collection<SigningKeyDoc>('signing_keys');

/** Keys that verify tokens now: not yet retired. */
export const publishedKeysFilter = (now: Date) => ({ $or: [{ retireAt: null }, { retireAt: { $gt: now } }] });
