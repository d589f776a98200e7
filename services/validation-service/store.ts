// What validation-service reads. It owns no collection: signing_keys, revocations and
// refresh_token_families belong to token-service, so this module only reads them, each
// operation a single query that filters on expiry.
import type { Db } from 'mongodb';
import type { JWK } from 'jose';
import { publishedKeysFilter, signingKeysCollection } from '#shared/keys/signing-keys.ts';
import { revocationsCollection, type RevocationDoc } from '#shared/revocations.ts';

/** A public key that verifies access tokens until `retireAt`. */
export type PublishedKey = { kid: string; alg: string; publicJwk: JWK; retireAt: Date | null };

/** A revocation as validation-service keeps it (from a document or a broadcast). */
export type RevocationRecord = Pick<RevocationDoc, 'kind' | 'key'> & {
  /** Tokens whose `iat` (epoch seconds) is at or before this are covered (subject_client only). */
  issuedBeforeSeconds: number;
  /** When every token the record covers has expired (epoch ms). */
  expiresAtMs: number;
};

/**
 * The fields of a refresh token family introspection needs (the collection is token-service's;
 * fields this service does not use are left out, and missing optional ones are tolerated).
 */
export type RefreshFamilyView = {
  _id: string;
  /** SHA-256 of the one refresh token usable now; null for a family revoked before one was issued. */
  currentHash?: string | null;
  clientId: string;
  sub: string;
  username?: string;
  scopes: string[];
  createdAt?: Date;
  expiresAt: Date;
  revokedAt?: Date | null;
};

export const toRevocationRecord = (doc: Pick<RevocationDoc, 'kind' | 'key' | 'issuedBefore' | 'expiresAt'>): RevocationRecord => ({
  kind: doc.kind,
  key: doc.key,
  issuedBeforeSeconds: Math.floor(doc.issuedBefore.getTime() / 1000),
  expiresAtMs: doc.expiresAt.getTime(),
});

const revocationProjection = { _id: 0, kind: 1, key: 1, issuedBefore: 1, expiresAt: 1 } as const;

export function createValidationStore(db: Db) {
  const keys = signingKeysCollection(db);
  const revocations = revocationsCollection(db);
  const families = db.collection<RefreshFamilyView>('refresh_token_families');

  return {
    async publishedKeys(now: Date): Promise<PublishedKey[]> {
      const docs = await keys.find(publishedKeysFilter(now), { projection: { _id: 1, alg: 1, publicJwk: 1, retireAt: 1 } }).toArray();
      return docs.map((d) => ({ kid: d._id, alg: d.alg, publicJwk: d.publicJwk, retireAt: d.retireAt ?? null }));
    },
    /** Every revocation that still covers a token that may be presented (expired ones too, within `graceMs`). */
    async activeRevocations(now: Date, graceMs: number): Promise<RevocationRecord[]> {
      const docs = await revocations.find({ expiresAt: { $gt: new Date(now.getTime() - graceMs) } }, { projection: revocationProjection }).toArray();
      return docs.map(toRevocationRecord);
    },
    /**
     * Revocations written or widened after `since` (a resync that covers broadcasts this instance
     * missed). token-service records a revocation again by raising `issuedBefore` to the new instant
     * (createdAt stays), so both are read.
     */
    async revocationsChangedSince(since: Date): Promise<RevocationRecord[]> {
      const docs = await revocations.find({ $or: [{ createdAt: { $gt: since } }, { issuedBefore: { $gt: since } }] }, { projection: revocationProjection }).toArray();
      return docs.map(toRevocationRecord);
    },
    async findRefreshFamily(familyId: string, now: Date): Promise<RefreshFamilyView | null> {
      return families.findOne({ _id: familyId, revokedAt: null, expiresAt: { $gt: now } });
    },
  };
}

export type ValidationStore = ReturnType<typeof createValidationStore>;
