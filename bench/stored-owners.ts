// Other owners' records, stored before the scenarios: a user, a session and a consent each, as the
// admin CLI and consent-ui write them, for owners no one signs in as (their password hash matches
// no password). A server in use holds many; every read of a scenario (the user at sign-in, a
// consent or a session not in a cache) then searches collections of
// that size instead of the benchmark's 16 owners. What the database does with size is the point:
// FerretDB 1.24 reads a whole collection for a filter on anything but _id, and on SQLite, as
// released, for a lookup by _id too (scripts/local-infra.ts).
import type { Db } from 'mongodb';
import { randomToken, sha256 } from '#shared/crypto.ts';
import { addSeconds } from '#shared/clock.ts';
import { CONSENTS, SESSIONS, consentId, type ConsentDoc, type SessionDoc } from '#shared/signed-in/records.ts';
import { usersCollection, type UserDoc } from '#shared/reference-data/users.ts';

export const MAX_STORED_OWNERS = 1_000_000;
const BATCH = 1000;
const SESSION_SECONDS = 3600;
/** The shape of an argon2id hash, of no password. */
const NO_PASSWORD = `$argon2id$v=19$m=20480,t=2,p=1$${'A'.repeat(22)}$${'A'.repeat(43)}`;

/**
 * Stored before the benchmark's own users, so that a read which stops at the first match (a filter
 * on the username, on FerretDB) does not find the benchmark's users first.
 */
export async function storeOtherOwners(db: Db, count: number): Promise<void> {
  const clientId = 'c_stored_owners';
  const scope = 'stored.read';
  const now = new Date();
  const tag = randomToken(6);
  for (let first = 0; first < count; first += BATCH) {
    const owners = Array.from({ length: Math.min(BATCH, count - first) }, (_, i) => ({ sub: `u_stored-${tag}-${first + i}`, username: `stored_${tag}_${first + i}` }));
    const sessions: SessionDoc[] = owners.map(({ sub, username }) => ({
      _id: sha256(randomToken(32)), sub, username, authTime: now, createdAt: now, expiresAt: addSeconds(now, SESSION_SECONDS),
    }));
    const users: UserDoc[] = owners.map(({ sub, username }) => ({ _id: sub, username, passwordHash: NO_PASSWORD, groups: [], createdAt: now }));
    const consents: ConsentDoc[] = owners.map(({ sub }) => ({
      _id: consentId(sub, clientId), sub, clientId, scopes: [scope], grantedScopes: [scope], createdAt: now, updatedAt: now,
    }));
    await Promise.all([
      usersCollection(db).insertMany(users, { ordered: false }),
      db.collection<SessionDoc>(SESSIONS).insertMany(sessions, { ordered: false }),
      db.collection<ConsentDoc>(CONSENTS).insertMany(consents, { ordered: false }),
    ]);
  }
}
