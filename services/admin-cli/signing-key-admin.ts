// Signing keys as the operator sees them: which key signs, which are still published in JWKS
// for tokens they signed, which are retired. Rotation itself is shared/keys/rotate-signing-key.ts,
// the same code token-service uses for its first key.
import type { Db } from 'mongodb';
import { clientsCollection, DEFAULT_ACCESS_TOKEN_TTL_SECONDS } from '#shared/reference-data/clients.ts';
import { signingKeysCollection } from '#shared/keys/signing-keys.ts';
import { rotateSigningKey, type RotationResult } from '#shared/keys/rotate-signing-key.ts';

export type KeyStatus = 'signing' | 'published' | 'retired';
export type KeyView = { kid: string; alg: string; status: KeyStatus; createdAt: Date; supersededAt: Date | null; retireAt: Date | null };

export async function listSigningKeys(db: Db, now: Date): Promise<KeyView[]> {
  const docs = await signingKeysCollection(db).find({}, { projection: { privateJwkEncrypted: 0 } }).sort({ createdAt: -1 }).toArray();
  // token-service signs with the newest key that is not superseded.
  const signing = docs.find((k) => k.supersededAt === null);
  return docs.map((k) => ({
    kid: k._id,
    alg: k.alg,
    status: k.retireAt !== null && k.retireAt <= now ? 'retired' : k === signing ? 'signing' : 'published',
    createdAt: k.createdAt,
    supersededAt: k.supersededAt,
    retireAt: k.retireAt,
  }));
}

/**
 * The longest access-token lifetime any client has now bounds how long a token signed by the old
 * key can still be presented. Tokens of clients deleted since are not counted: they stop
 * verifying when the old key retires, which errs on the side of refusing.
 */
export async function maxAccessTokenTtlSeconds(db: Db): Promise<number> {
  const [longest] = await clientsCollection(db).find({}, { projection: { accessTokenTtlSeconds: 1 } }).sort({ accessTokenTtlSeconds: -1 }).limit(1).toArray();
  return Math.max(DEFAULT_ACCESS_TOKEN_TTL_SECONDS, longest?.accessTokenTtlSeconds ?? 0);
}

export async function rotateKeys(db: Db, kek: Buffer, now: Date): Promise<RotationResult> {
  return rotateSigningKey(db, kek, now, await maxAccessTokenTtlSeconds(db));
}
