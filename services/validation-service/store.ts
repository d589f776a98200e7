// What validation-service reads. It owns no collection and writes nothing: signing_keys and
// revocations belong to token-service (the revocations are read by shared/grants/revocation-feed.ts),
// and reference data to the admin CLI.
import type { Db } from 'mongodb';
import { loadPublishedKeys, type PublishedKey } from '#shared/keys/signing-keys.ts';

export function createValidationStore(db: Db) {
  return {
    /** The public keys that verify access tokens now (not retired). */
    publishedKeys: (now: Date): Promise<PublishedKey[]> => loadPublishedKeys(db, now),
  };
}

export type ValidationStore = ReturnType<typeof createValidationStore>;
