// consent-ui's collections, one function each: sessions (by id hash), consents (one per owner and
// client), login_failures and login_locks (sign-in throttling per account and per client address),
// plus the read of a user by username for sign-in. Each operation is one call (the sweep aside, and
// writes that fall back from an update to a unique insert); every read filters on expiry. No upserts:
// concurrent upserts of one _id fail with a duplicate key. FerretDB 1.24 loses concurrent $inc
// updates and lets several conditional findOneAndUpdate calls win: what must happen once rests on
// inserts under a unique _id, and the failure counters are updated one at a time per process.
import type { Collection, Db, OptionalUnlessRequiredId } from 'mongodb';
import { ensureIndexes, expiresAtTtl, isDuplicateKey } from '#shared/mongo.ts';
import type { Logger } from '#shared/logger.ts';
import { usersCollection } from '#shared/reference-data/users.ts';
import { CONSENTS, SESSIONS, consentId, ownerRecordReads, type ConsentDoc, type SessionDoc } from '#shared/signed-in/records.ts';

/**
 * The failed sign-ins of an account (`user:<username>`) or a client address (`ip:<address>`), one
 * document per key: counted since the key's last success, forgotten `memorySeconds` after the last
 * failure. One keyed read or write per attempt, whatever the count (finding 11: counting one record
 * per attempt cost a scan of them all). FerretDB loses concurrent updates of one document, so within
 * a process these are made one after the other (login-throttle.ts, AttemptGates).
 */
export type LoginFailuresDoc = { _id: string; key: string; failures: number; updatedAt: Date; expiresAt: Date };

/** The n-th lock of a key; the unique _id lets exactly one of several concurrent failures set it. */
export type LoginLockDoc = { _id: string; key: string; n: number; until: Date; createdAt: Date; expiresAt: Date };

export type LoginLock = { n: number; until: Date };

export type UserCredentials = { sub: string; username: string; passwordHash: string };

/** The sub of a username, as the reference cache knows it (reference-cache.ts, subOfUsername). */
export type SubOfUsername = (username: string) => Promise<string | undefined>;

export async function createConsentUiStore(db: Db, log: Logger, subOfUsername: SubOfUsername) {
  // One after the other, as before: no index builds raced at start.
  const sessions = await sessionsStore(db, log);
  const consents = await consentsStore(db, log);
  const throttle = await loginThrottleStore(db, log);
  return {
    ...usersStore(db, subOfUsername),
    ...ownerRecordReads(db),
    ...sessions,
    ...consents,
    ...throttle,
    /** Removes expired sessions and failure records (the TTL index does this where the database has one). */
    async sweepExpired(now: Date): Promise<number> {
      const counts = await Promise.all([sessions.sweepExpiredSessions(now), throttle.sweepExpiredLoginRecords(now)]);
      return counts[0] + counts[1];
    },
  };
}

/** Inserts `doc`; false when its _id exists (a concurrent insert won). */
async function insertUnlessDuplicate<T extends { _id: string }>(collection: Collection<T>, doc: OptionalUnlessRequiredId<T>): Promise<boolean> {
  try {
    await collection.insertOne(doc);
    return true;
  } catch (error) {
    if (isDuplicateKey(error)) return false;
    throw error;
  }
}

export type ConsentUiStore = Awaited<ReturnType<typeof createConsentUiStore>>;

/** Never a sub (those are `u_` and a random token): the read an unknown username makes. */
const NO_SUCH_USER = 'no such user';

/**
 * The read of a user for sign-in (users are reference data, written by the admin CLI): by _id, the
 * sub the reference cache names, since FerretDB 1.24 reads every user to answer a filter on the
 * name (26 ms with 1,000 users, 206 ms with 10,000; by _id about 1 ms). An unknown name makes the
 * same one read by _id, so it costs what a known one does.
 */
function usersStore(db: Db, subOfUsername: SubOfUsername) {
  const users = usersCollection(db);
  return {
    async findUserByUsername(username: string): Promise<UserCredentials | null> {
      const sub = await subOfUsername(username);
      const user = await users.findOne({ _id: sub ?? NO_SUCH_USER }, { projection: { _id: 1, username: 1, passwordHash: 1 } });
      // A name the cache still holds for a user deleted since finds no one.
      return user?.username === username ? { sub: user._id, username: user.username, passwordHash: user.passwordHash } : null;
    },
    /**
     * Replaces the hash only if it is still the one checked, so a hash written meanwhile (by a sign-in
     * racing this one) stays, and only for a user not disabled. FerretDB 1.24 applies an update by
     * reading then writing the whole document, so there a `users disable` within the same moment could
     * still be undone; MongoDB applies it atomically.
     */
    async replacePasswordHash(sub: string, checked: string, replacement: string): Promise<void> {
      await users.updateOne({ _id: sub, passwordHash: checked, disabled: { $ne: true } }, { $set: { passwordHash: replacement } });
    },
  };
}

/** sessions: by the SHA-256 of the id in the cookie. */
async function sessionsStore(db: Db, log: Logger) {
  const sessions = db.collection<SessionDoc>(SESSIONS);
  await ensureIndexes(sessions, [expiresAtTtl, { key: { sub: 1 } }], log);
  return {
    async createSession(session: SessionDoc): Promise<void> {
      await sessions.insertOne(session);
    },
    async deleteSession(idHash: string): Promise<void> {
      await sessions.deleteOne({ _id: idHash });
    },
    async sweepExpiredSessions(now: Date): Promise<number> {
      return (await sessions.deleteMany({ expiresAt: { $lte: now } })).deletedCount;
    },
  };
}

/** consents: one per owner and client, the grants for "Your authorizations" and the remembered consent. */
async function consentsStore(db: Db, log: Logger) {
  const consents = db.collection<ConsentDoc>(CONSENTS);
  await ensureIndexes(consents, [{ key: { sub: 1, updatedAt: -1 } }], log);
  return {
    /**
     * Records an approval; with `remember`, the scopes also join the remembered consent. No upsert:
     * concurrent upserts of one _id fail with a duplicate key (finding 10), so it is an update, else
     * an insert, and an insert that loses to a concurrent one is an update after all.
     */
    async recordGrant(sub: string, clientId: string, scopes: string[], remember: boolean, now: Date): Promise<void> {
      const _id = consentId(sub, clientId);
      const change = { $addToSet: { grantedScopes: { $each: scopes }, scopes: { $each: remember ? scopes : [] } }, $set: { updatedAt: now } };
      const granted = [...new Set(scopes)];
      const fresh: ConsentDoc = { _id, sub, clientId, scopes: remember ? granted : [], grantedScopes: granted, createdAt: now, updatedAt: now };
      for (let round = 0; round < 3; round++) {
        if ((await consents.updateOne({ _id }, change)).matchedCount > 0) return;
        if (await insertUnlessDuplicate(consents, fresh)) return;
      }
      throw new Error('the consent record kept appearing and disappearing while a grant was recorded');
    },
    async listConsents(sub: string): Promise<ConsentDoc[]> {
      return consents.find({ sub }).sort({ updatedAt: -1 }).limit(500).toArray();
    },
    async deleteConsent(sub: string, clientId: string): Promise<boolean> {
      return (await consents.deleteOne({ _id: consentId(sub, clientId) })).deletedCount === 1;
    },
  };
}

/** login_failures and login_locks: sign-in throttling per account and per client address. */
async function loginThrottleStore(db: Db, log: Logger) {
  const failures = db.collection<LoginFailuresDoc>('login_failures');
  const locks = db.collection<LoginLockDoc>('login_locks');
  await ensureIndexes(failures, [expiresAtTtl], log);
  await ensureIndexes(locks, [expiresAtTtl, { key: { key: 1, n: -1 } }], log);
  return {
    /** The latest lock of `key` still remembered (it may have run out: compare `until`). */
    async latestLoginLock(key: string, now: Date): Promise<LoginLock | null> {
      const [lock] = await locks.find({ key, expiresAt: { $gt: now } }).sort({ n: -1 }).limit(1).toArray();
      return lock ? { n: lock.n, until: lock.until } : null;
    },
    // Filters on _id alone: FerretDB 1.24 finds by _id without a scan only when nothing else is in
    // the filter, so expiry is checked here, on the document found.
    /** The failures of `key` still remembered. */
    async loginFailures(key: string, now: Date): Promise<number> {
      const doc = await failures.findOne({ _id: key });
      return doc && doc.expiresAt > now ? doc.failures : 0;
    },
    /** Counts one more failure of `key`, remembered until `rememberUntil`, and returns the count. */
    async addLoginFailure(key: string, now: Date, rememberUntil: Date): Promise<number> {
      for (let round = 0; round < 3; round++) {
        const before = await failures.findOneAndUpdate(
          { _id: key },
          { $inc: { failures: 1 }, $set: { updatedAt: now, expiresAt: rememberUntil } },
          { returnDocument: 'before' },
        );
        if (before && before.expiresAt > now) return before.failures + 1;
        if (before) {
          // A forgotten count (expired, not yet swept): this failure starts a new one.
          await failures.updateOne({ _id: key }, { $set: { failures: 1 } });
          return 1;
        }
        // None yet: a unique insert, and one that loses to a concurrent insert counts again.
        if (await insertUnlessDuplicate(failures, { _id: key, key, failures: 1, updatedAt: now, expiresAt: rememberUntil })) return 1;
      }
      throw new Error('the failure counter kept appearing and disappearing');
    },
    /** Sets lock number `n` of `key`; false when it was already set (by a concurrent attempt). */
    async addLoginLock(key: string, n: number, now: Date, until: Date, rememberUntil: Date): Promise<boolean> {
      const _id = `${key}#${n}`;
      // A forgotten lock of an earlier series must not block this one.
      await locks.deleteOne({ _id, expiresAt: { $lte: now } });
      try {
        await locks.insertOne({ _id, key, n, until, createdAt: now, expiresAt: until > rememberUntil ? until : rememberUntil });
        return true;
      } catch (error) {
        if (isDuplicateKey(error)) return false;
        throw error;
      }
    },
    /** A success forgets the account's failures and locks. */
    async clearLoginFailures(key: string): Promise<void> {
      await failures.deleteOne({ _id: key });
      await locks.deleteMany({ key });
    },
    async sweepExpiredLoginRecords(now: Date): Promise<number> {
      const results = await Promise.all([failures, locks].map((c) => c.deleteMany({ expiresAt: { $lte: now } })));
      return results.reduce((sum, r) => sum + r.deletedCount, 0);
    },
  };
}
