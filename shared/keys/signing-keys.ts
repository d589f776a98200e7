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
  /**
   * When the key starts signing (signing-key-states.ts). Scheduled keys are published
   * SIGNING_KEY_PREPUBLISH_SECONDS before; absent on keys made before scheduled rotation (they signed from creation).
   */
  activatesAt?: Date;
  /**
   * When a newer key takes over (possibly ahead, at a scheduled successor's activation): the key stays
   * published until every token it signed expired.
   */
  supersededAt: Date | null;
  /** After this the key is no longer published nor accepted. */
  retireAt: Date | null;
};

export const signingKeysCollection = (db: Db) => db.collection<SigningKeyDoc>('signing_keys');

/** Keys that verify tokens now: not yet retired. */
export const publishedKeysFilter = (now: Date) => ({ $or: [{ retireAt: null }, { retireAt: { $gt: now } }] });

/** A public key that verifies access tokens until `retireAt` (what verifiers hold; no private part). */
export type PublishedKey = { kid: string; alg: string; publicJwk: JWK; retireAt: Date | null };

export const toPublishedKey = (doc: Pick<SigningKeyDoc, '_id' | 'alg' | 'publicJwk' | 'retireAt'>): PublishedKey =>
  ({ kid: doc._id, alg: doc.alg, publicJwk: doc.publicJwk, retireAt: doc.retireAt ?? null });

/** The public parts of the keys that verify tokens now (one query; the private part is not even read). */
export async function loadPublishedKeys(db: Db, now: Date): Promise<PublishedKey[]> {
  const docs = await signingKeysCollection(db).find(publishedKeysFilter(now), { projection: { _id: 1, alg: 1, publicJwk: 1, retireAt: 1 } }).toArray();
  return docs.map(toPublishedKey);
}
