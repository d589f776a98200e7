// Signing keys as the operator sees them: which key signs (active), which is published ahead of its
// activation (next), which are still published for tokens they signed (retiring), which are retired. Rotation itself is shared/keys/rotate-signing-key.ts,
// the same code token-service uses for its first key.
import type { Db } from 'mongodb';
import { clientsCollection, DEFAULT_ACCESS_TOKEN_TTL_SECONDS } from '#shared/reference-data/clients.ts';
import { signingKeysCollection } from '#shared/keys/signing-keys.ts';
import { rotateSigningKey, type RotationResult } from '#shared/keys/rotate-signing-key.ts';
import { activatesAt, keyStates, type SigningKeyState } from '#shared/keys/signing-key-states.ts';

/** The state names before scheduled rotation, still in `keys list --json` as `status`. */
export type KeyStatus = 'signing' | 'published' | 'retired';
export type KeyView = {
  kid: string; alg: string; state: SigningKeyState; status: KeyStatus;
  createdAt: Date; activatesAt: Date; supersededAt: Date | null; retireAt: Date | null;
};

const statusOf = (state: SigningKeyState): KeyStatus => (state === 'active' ? 'signing' : state === 'retired' ? 'retired' : 'published');

/** Every key, newest first, with its state now as token-service decides it (signing-key-states.ts). */
export async function listSigningKeys(db: Db, now: Date): Promise<KeyView[]> {
  const docs = await signingKeysCollection(db).find({}, { projection: { privateJwkEncrypted: 0 } }).sort({ createdAt: -1 }).toArray();
  return keyStates(docs, now).map(({ key, state }) => ({
    kid: key._id,
    alg: key.alg,
    state,
    status: statusOf(state),
    createdAt: key.createdAt,
    activatesAt: activatesAt(key),
    supersededAt: key.supersededAt,
    retireAt: key.retireAt,
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
