// Other owners' records, stored before the scenarios: a session and a consent each, as consent-ui
// writes them, under subjects no one signs in as. A server in use holds many; every keyed read of
// a scenario (the consent read once more per code flow, a session not in a cache) then searches
// collections of that size instead of the benchmark's 16 owners. What the database does with size
// is the point: FerretDB 1.24 on SQLite used to read a whole collection for a lookup by _id
// (scripts/local-infra.ts).
import type { Db } from 'mongodb';
import { randomToken, sha256 } from '#shared/crypto.ts';
import { addSeconds } from '#shared/clock.ts';
import { CONSENTS, SESSIONS, consentId, type ConsentDoc, type SessionDoc } from '#shared/signed-in/records.ts';

export const MAX_STORED_OWNERS = 1_000_000;
const BATCH = 1000;
const SESSION_SECONDS = 3600;

export async function storeOtherOwners(db: Db, count: number, clientId: string, scope: string): Promise<void> {
  const now = new Date();
  const tag = randomToken(6);
  for (let first = 0; first < count; first += BATCH) {
    const owners = Array.from({ length: Math.min(BATCH, count - first) }, (_, i) => ({ sub: `stored-${tag}-${first + i}`, username: `stored_${tag}_${first + i}` }));
    const sessions: SessionDoc[] = owners.map(({ sub, username }) => ({
      _id: sha256(randomToken(32)), sub, username, authTime: now, createdAt: now, expiresAt: addSeconds(now, SESSION_SECONDS),
    }));
    const consents: ConsentDoc[] = owners.map(({ sub }) => ({
      _id: consentId(sub, clientId), sub, clientId, scopes: [scope], grantedScopes: [scope], createdAt: now, updatedAt: now,
    }));
    await Promise.all([
      db.collection<SessionDoc>(SESSIONS).insertMany(sessions, { ordered: false }),
      db.collection<ConsentDoc>(CONSENTS).insertMany(consents, { ordered: false }),
    ]);
  }
}
