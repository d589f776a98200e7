// Creating and rotating access-token signing keys. token-service generates the first key when
// there is none; `oauth-admin keys rotate` rotates. Both write signing_keys through these
// functions, so a key always has the same shape whoever made it.
import type { Db } from 'mongodb';
import { calculateJwkThumbprint, exportJWK, generateKeyPair } from 'jose';
import { addSeconds } from '#shared/clock.ts';
import { encrypt } from './key-encryption.ts';
import { SIGNING_ALG, signingKeysCollection, type SigningKeyDoc } from './signing-keys.ts';

/** How long a superseded key stays published beyond the longest access-token lifetime (clock skew, caches). */
export const KEY_RETIRE_MARGIN_SECONDS = 5 * 60;

/**
 * A new ES256 key pair as a signing_keys document: the kid is the RFC 7638 thumbprint of the public
 * key, and the private JWK is encrypted under `kek` with the kid as associated data (so a blob
 * cannot be moved to another key's document).
 */
export async function generateSigningKey(kek: Buffer, now: Date, activatesAt: Date = now): Promise<SigningKeyDoc> {
  const { publicKey, privateKey } = await generateKeyPair(SIGNING_ALG, { extractable: true });
  const publicJwk = await exportJWK(publicKey);
  const kid = await calculateJwkThumbprint(publicJwk);
  const privateJwk = await exportJWK(privateKey);
  return {
    _id: kid,
    alg: SIGNING_ALG,
    publicJwk: { ...publicJwk, kid, alg: SIGNING_ALG, use: 'sig' },
    privateJwkEncrypted: encrypt(kek, JSON.stringify({ ...privateJwk, kid, alg: SIGNING_ALG }), kid),
    createdAt: now,
    activatesAt,
    supersededAt: null,
    retireAt: null,
  };
}

/** Generates a key and stores it. Several instances may do this at once; the newest key signs. */
export async function insertSigningKey(db: Db, kek: Buffer, now: Date): Promise<SigningKeyDoc> {
  const key = await generateSigningKey(kek, now);
  await signingKeysCollection(db).insertOne(key);
  return key;
}

export type RotationResult = { kid: string; superseded: string[]; retireAt: Date };

/**
 * Inserts a new signing key that signs at once, and supersedes every key not superseded yet (a
 * scheduled `next` key included: it never signs). The rotation schedule counts from this key. A superseded key stays in
 * JWKS until every token it signed has expired: `maxAccessTokenTtlSeconds` (the longest
 * access-token lifetime of any client) plus a margin. Services pick the new key up on the
 * `keys` reference-data announcement or within their reload interval.
 */
export async function rotateSigningKey(db: Db, kek: Buffer, now: Date, maxAccessTokenTtlSeconds: number): Promise<RotationResult> {
  const collection = signingKeysCollection(db);
  const previous = await collection.find({ supersededAt: null }, { projection: { _id: 1 } }).toArray();
  const key = await insertSigningKey(db, kek, now);
  const retireAt = addSeconds(now, maxAccessTokenTtlSeconds + KEY_RETIRE_MARGIN_SECONDS);
  const superseded = previous.map((k) => k._id).filter((kid) => kid !== key._id);
  if (superseded.length > 0) {
    await collection.updateMany({ _id: { $in: superseded }, supersededAt: null }, { $set: { supersededAt: now, retireAt } });
  }
  return { kid: key._id, superseded, retireAt };
}
