// What validation-service reads. It owns no collection: signing_keys, revocations and
// grant_claims belong to token-service, so this module only reads them, each operation a single
// query.
import type { Db } from 'mongodb';
import type { JWK } from 'jose';
import { publishedKeysFilter, signingKeysCollection } from '#shared/keys/signing-keys.ts';

/** A public key that verifies access tokens until `retireAt`. */
export type PublishedKey = { kid: string; alg: string; publicJwk: JWK; retireAt: Date | null };

export function createValidationStore(db: Db) {
  const keys = signingKeysCollection(db);
  const claims = db.collection<{ _id: string }>('grant_claims');

  return {
    async publishedKeys(now: Date): Promise<PublishedKey[]> {
      const docs = await keys.find(publishedKeysFilter(now), { projection: { _id: 1, alg: 1, publicJwk: 1, retireAt: 1 } }).toArray();
      return docs.map((d) => ({ kid: d._id, alg: d.alg, publicJwk: d.publicJwk, retireAt: d.retireAt ?? null }));
    },
    async claimExists(claimId: string): Promise<boolean> {
      return (await claims.findOne({ _id: claimId }, { projection: { _id: 1 } })) !== null;
    },
  };
}

export type ValidationStore = ReturnType<typeof createValidationStore>;
