// token-service's collections: refresh_token_families, grant_claims, revocations,
// client_auth_failures and signing_keys. Operations are named for what they do; only hashes are
// stored (codes and refresh tokens are sealed, not stored at all). A database that does not answer
// becomes temporarily_unavailable (503), never a 500.
//
// Exactly-once decisions rest on unique-key inserts, the one write both MongoDB 7 and FerretDB
// v1.24 make atomic. FerretDB 1.x runs findAndModify/update as read-then-write without a
// transaction (FerretDB/FerretDB#3040): measured here, 10 concurrent findOneAndUpdate calls with
// the same filter let 1-10 of them "win", and concurrent $set on different fields of one document
// lose each other's writes. So each decision is an insert: of the grant's family (a code redeemed;
// only the code's claim, stored closed, where the client gets no refresh token) or into
// grant_claims (`code:<grant id>` for codes of the earlier kind, `code_replay:<grant id>`,
// `refresh:<grant id>:<n>`, `refresh_grace:<grant id>:<n>`, `revoked:<grant id>`). Inserts go out grouped (UniqueInserts).
// A grant revocation is also noted in unrecorded_revocations until its record is stored: the short
// list the completion reads (complete-revocations.ts), where grant_claims is read whole on FerretDB.
// Failed client authentications are insert-only events for the same reason.
import type { Db } from 'mongodb';
import { addSeconds } from '#shared/clock.ts';
import { ensureIndexes, expiresAtTtl, isDatabaseUnavailable, isDuplicateKey } from '#shared/mongo.ts';
import type { Logger } from '#shared/logger.ts';
import { unavailable } from '#shared/oauth-error.ts';
import { prepareRevocations, revocationId, revocationsCollection, writeRevocation, type RevocationKind } from '#shared/grants/revocation-feed.ts';
import { publishedKeysFilter, signingKeysCollection, type SigningKeyDoc } from '#shared/keys/signing-keys.ts';
import { insertSigningKey } from '#shared/keys/rotate-signing-key.ts';
import { createClientAuthEventStore } from '#shared/client-auth/client-auth-events.ts';
import { refreshGraceClaimId, refreshTokenClaimId, type RefreshTokenPayload } from '#shared/grants/refresh-tokens.ts';
import { EXACTLY_ONCE, UniqueInserts, type WriteObserver } from '#shared/unique-inserts.ts';


/**
 * One grant (refresh token family), stored when its code is redeemed. Its refresh tokens are
 * sealed (shared/grants/refresh-tokens.ts) and spent by claims `refresh:<grant id>:<generation>`; this
 * record is what consent revocation finds by owner and client, and what a code replay blocks.
 */
type RefreshTokenFamilyDoc = {
  _id: string; // grant id
  clientId: string;
  sub: string;
  username: string;
  /** The scopes of the original grant; a refresh may narrow an access token, never the family. */
  scopes: string[];
  authTime: Date;
  /** Access-token lifetime when the grant began (revocations are remembered at least this long). */
  accessTokenTtlSeconds: number;
  createdAt: Date;
  expiresAt: Date;
  revokedAt: Date | null;
  /**
   * Only the claim of a code that issued no refresh token (the client gets none): stored closed,
   * it is no grant with refresh tokens to list, revoke or size a revocation by.
   */
  claimOnly?: true;
};

export type RefreshTokenFamily = Omit<RefreshTokenFamilyDoc, '_id'> & { grantId: string };

type GrantClaimDoc = { _id: string; createdAt: Date; expiresAt: Date; recordedAt?: Date };

/** A grant revocation decided (or about to be) and not yet stored as a revocation record; `expiresAt`: the family's. */
type UnrecordedRevocationDoc = { _id: string; createdAt: Date; expiresAt: Date };

/** More unrecorded revocations than this at once means the database has been failing; the rest wait for the next round. */
const MAX_UNRECORDED_READ = 10_000;

/** How long a claim outlives what it guards: late replays are still recognised, and clock skew frees nothing early. */
export const CLAIM_MARGIN_SECONDS = 86_400;

export type Revocation = { kind: RevocationKind; key: string; issuedBefore: Date; expiresAt: Date };

export type { ClientAuthEvent, ClientAuthEventKind } from '#shared/client-auth/client-auth-events.ts';

export async function createTokenStore(db: Db, log: Logger, observeWrites?: WriteObserver) {
  const grants = await grantCollections(db, log, observeWrites);
  const revocations = await revocationOperations(db, log);
  const keys = await signingKeyOperations(db, log);
  const authEvents = await createClientAuthEventStore(db, log);
  const store = {
    ...codeOperations(grants),
    ...familyOperations(grants),
    ...unrecordedRevocationOperations(grants),
    ...refreshGraceOperations(grants),
    async recordRevocation(revocation: Revocation, now: Date): Promise<void> {
      await revocations.recordRevocation(revocation, now);
      if (revocation.kind === 'grant') await grants.revocationRecorded(revocation.key, now);
    },
    storedGrantRevocations: revocations.storedGrantRevocations,
    recentClientAuthEvents: authEvents.recentClientAuthEvents,
    recordClientAuthEvent: authEvents.recordClientAuthEvent,
    ...keys,

    /**
     * Removes what has expired (where the database has no TTL indexes, e.g. FerretDB), and with
     * `revokedFamiliesBefore` the families revoked before it: dead, though not yet expired.
     */
    async sweepExpired(now: Date, revokedFamiliesBefore?: Date): Promise<number> {
      const expired = { expiresAt: { $lte: now } };
      const deadFamilies = revokedFamiliesBefore ? { $or: [expired, { revokedAt: { $lte: revokedFamiliesBefore } }] } : expired;
      const results = await Promise.all([
        grants.families.deleteMany(deadFamilies), grants.claims.deleteMany(expired), grants.unrecorded.deleteMany(expired),
        revocations.sweepExpired(now), authEvents.sweepExpired(now),
      ]);
      return results.reduce((sum, r) => sum + r.deletedCount, 0);
    },
  };
  return guardAvailability(store);
}

/** refresh_token_families and grant_claims, with their grouped unique inserts. */
async function grantCollections(db: Db, log: Logger, observe: WriteObserver | undefined) {
  // Majority writes, primary reads: a claim or a family's revocation a failover rolled back would be spent twice.
  const families = db.collection<RefreshTokenFamilyDoc>('refresh_token_families', EXACTLY_ONCE);
  const claims = db.collection<GrantClaimDoc>('grant_claims', EXACTLY_ONCE);
  const unrecorded = db.collection<UnrecordedRevocationDoc>('unrecorded_revocations', EXACTLY_ONCE);
  // Grouped: under load many codes redeemed and tokens spent go out as one insert.
  const familyInserts = new UniqueInserts<RefreshTokenFamilyDoc>(db, families.collectionName, { observe });
  const claimInserts = new UniqueInserts<GrantClaimDoc>(db, claims.collectionName, { observe });
  const unrecordedInserts = new UniqueInserts<UnrecordedRevocationDoc>(db, unrecorded.collectionName, { observe });
  await ensureIndexes(families, [expiresAtTtl, { key: { sub: 1, clientId: 1 } }], log);
  await ensureIndexes(claims, [expiresAtTtl], log);
  await ensureIndexes(unrecorded, [expiresAtTtl], log);
  const claim = (id: string, expiresAt: Date, now: Date): Promise<boolean> => claimInserts.insert({ _id: id, createdAt: now, expiresAt });
  return {
    families, claims, unrecorded, familyInserts,
    /** True for the one caller whose insert of `id` succeeds. */
    claim,
    /**
     * Decides a grant's revocation: true for the one caller that reports it. The grant is noted as
     * unrecorded first, so a revocation cut short between here and its stored record is completed
     * (complete-revocations.ts); the claim lasts as long as the family. A note whose claim never
     * landed (a crash, a failed insert in between) is completed all the same: every caller of this
     * has decided to revoke; only the report (the claim, the audit event) is missing then.
     */
    async claimRevocation(grantId: string, familyExpiresAt: Date, now: Date): Promise<boolean> {
      await unrecordedInserts.insert({ _id: grantId, createdAt: now, expiresAt: familyExpiresAt });
      return claim(`revoked:${grantId}`, familyExpiresAt, now);
    },
    /** The grant's revocation record is stored: nothing left to complete, even after the record is swept when it expires. */
    async revocationRecorded(grantId: string, now: Date): Promise<void> {
      await Promise.all([
        claims.updateOne({ _id: `revoked:${grantId}` }, { $set: { recordedAt: now } }),
        unrecorded.deleteOne({ _id: grantId }),
      ]);
    },
    /** Whether a claim of `id` was made (read only where a refusal needs to know, never on the usual path). */
    claimExists: async (id: string): Promise<boolean> => (await claims.findOne({ _id: id }, { projection: { _id: 1 } })) !== null,
  };
}

type GrantCollections = Awaited<ReturnType<typeof grantCollections>>;

/** Codes: redeemed exactly once, and a replay recognised and handled once. */
function codeOperations({ families, claims, claim }: GrantCollections) {
  return {
    /**
     * Redeems a code (already opened and checked against the token request): true for exactly one
     * caller however many present it at once. The claim `code:<grant id>` is kept a day past the
     * code's expiry, so that a late replay is still recognised.
     */
    async claimCode(grantId: string, codeExpiresAt: Date, now: Date): Promise<boolean> {
      return claim(`code:${grantId}`, addSeconds(codeExpiresAt, CLAIM_MARGIN_SECONDS), now);
    },

    /** True when the code of this grant was redeemed (its claim or its family exists). Only on refusals, to tell a replay. */
    async codeConsumed(grantId: string): Promise<boolean> {
      const [claimed, family] = await Promise.all([
        claims.findOne({ _id: `code:${grantId}` }, { projection: { _id: 1 } }),
        families.findOne({ _id: grantId }, { projection: { _id: 1 } }),
      ]);
      return claimed !== null || family !== null;
    },

    /** True for the one caller that first handles the replay of the code of this grant. */
    async claimCodeReplay(grantId: string, codeExpiresAt: Date, now: Date): Promise<boolean> {
      const until = addSeconds(codeExpiresAt > now ? codeExpiresAt : now, CLAIM_MARGIN_SECONDS);
      return claim(`code_replay:${grantId}`, until, now);
    },
  };
}

/** Refresh token families: created on redemption, spent token by token, revoked. */
function familyOperations({ families, familyInserts, claim, claimRevocation, claimExists }: GrantCollections) {
  return {
    /** Stores the family of a newly redeemed code; false when it exists (a replay blocked it first). */
    async createFamily({ grantId, ...fields }: RefreshTokenFamily): Promise<boolean> {
      return familyInserts.insert({ _id: grantId, ...fields });
    },

    /**
     * Spends a refresh token: true for exactly one caller, however many present it at once; false
     * when it was spent before. The claim lasts as long as the token could be presented.
     */
    async spendRefreshToken(token: Pick<RefreshTokenPayload, 'grantId' | 'generation'>, familyExpiresAt: Date, now: Date): Promise<boolean> {
      // A day past the token's expiry: a sweep on a clock running ahead must not free it for a second spending.
      return claim(refreshTokenClaimId(token), addSeconds(familyExpiresAt, CLAIM_MARGIN_SECONDS), now);
    },

    /** True when this refresh token was spent (rotated out); introspection reads it, rotation never does. */
    refreshTokenSpent: (token: Pick<RefreshTokenPayload, 'grantId' | 'generation'>): Promise<boolean> => claimExists(refreshTokenClaimId(token)),

    /** Revokes a family; true only for the one caller that reports the revocation. */
    async revokeFamily(grantId: string, familyExpiresAt: Date, now: Date): Promise<boolean> {
      const reports = await claimRevocation(grantId, familyExpiresAt, now);
      await families.updateOne({ _id: grantId, revokedAt: null }, { $set: { revokedAt: now } });
      return reports;
    },

    /** Decides that a grant is revoked: true for the one caller that reports it. */
    claimFamilyRevocation: claimRevocation,

    async markFamilyRevoked(grantId: string, now: Date): Promise<void> {
      await families.updateOne({ _id: grantId, revokedAt: null }, { $set: { revokedAt: now } });
    },

    /**
     * Revokes the family of a grant, or, when it does not exist yet (a replayed code whose winning
     * redemption has not stored it), stores it revoked so that it can never become live.
     */
    async revokeOrBlockFamily(family: RefreshTokenFamily, now: Date): Promise<boolean> {
      const { grantId, ...fields } = family;
      const reports = await claimRevocation(grantId, fields.expiresAt, now);
      try {
        await families.insertOne({ _id: grantId, ...fields, revokedAt: fields.revokedAt ?? now });
      } catch (error) {
        if (!isDuplicateKey(error)) throw error;
        await families.updateOne({ _id: grantId, revokedAt: null }, { $set: { revokedAt: now } });
      }
      return reports;
    },

    /** Revokes every live family of one resource owner with one client; returns them. */
    async revokeFamiliesOf(sub: string, clientId: string, now: Date): Promise<{ grantId: string; expiresAt: Date }[]> {
      const live = await families.find({ sub, clientId, revokedAt: null, expiresAt: { $gt: now } }, { projection: { _id: 1, expiresAt: 1 } }).toArray();
      await Promise.all(live.map((f) => claimRevocation(f._id, f.expiresAt, now)));
      if (live.length > 0) await families.updateMany({ _id: { $in: live.map((f) => f._id) }, revokedAt: null }, { $set: { revokedAt: now } });
      return live.map((f) => ({ grantId: f._id, expiresAt: f.expiresAt }));
    },

    /** When the grant's stored family expires (null without one, or with only its code's claim): a replay's revocation must outlive it. */
    async familyExpiresAt(grantId: string): Promise<Date | null> {
      const family = await families.findOne({ _id: grantId }, { projection: { expiresAt: 1, claimOnly: 1 } });
      return family && !family.claimOnly ? family.expiresAt : null;
    },
  };
}

/** Grant revocations decided and not yet recorded, which complete-revocations.ts finishes. */
function unrecordedRevocationOperations({ claims, unrecorded, revocationRecorded }: GrantCollections) {
  return {
    /**
     * Grants whose revocation was decided before `decidedBefore` and never recorded, and whose
     * tokens may still be presented. The list is short (revocations under way or cut short), so a
     * filter that reads all of it costs little, even on FerretDB.
     */
    async decidedRevocations(now: Date, decidedBefore: Date): Promise<{ grantId: string; familyExpiresAt: Date }[]> {
      const docs = await unrecorded.find({ createdAt: { $lt: decidedBefore }, expiresAt: { $gt: now } }).limit(MAX_UNRECORDED_READ).toArray();
      return docs.map((d) => ({ grantId: d._id, familyExpiresAt: d.expiresAt }));
    },

    /**
     * The same for revocations decided by instances of earlier releases, which noted nothing as
     * unrecorded: found among all the claims (a whole read of grant_claims on FerretDB), so only
     * at start and with each sweep.
     */
    async decidedRevocationsFromClaims(now: Date, decidedBefore: Date): Promise<{ grantId: string; familyExpiresAt: Date }[]> {
      const filter = { _id: { $regex: /^revoked:/ }, expiresAt: { $gt: now }, createdAt: { $lt: decidedBefore }, recordedAt: { $exists: false } };
      const docs = await claims.find(filter, { projection: { expiresAt: 1 } }).toArray();
      return docs.map((d) => ({ grantId: d._id.slice('revoked:'.length), familyExpiresAt: d.expiresAt }));
    },

    /** A decided revocation found stored after all (its bookkeeping was cut short): nothing left to complete. */
    revocationRecorded,
  };
}

/** Refresh grace (refresh-grace.ts): when a token was spent, and its one grace claimed. Read only for clients with a grace. */
function refreshGraceOperations({ claims, claim, claimExists }: GrantCollections) {
  return {
    /**
     * When this refresh token was spent (its claim's time), or null. Read only when a client with a
     * refresh grace presents a spent token: the grace window runs from the rotation.
     */
    async refreshTokenSpentAt(token: Pick<RefreshTokenPayload, 'grantId' | 'generation'>): Promise<Date | null> {
      return (await claims.findOne({ _id: refreshTokenClaimId(token) }, { projection: { createdAt: 1 } }))?.createdAt ?? null;
    },

    /** Uses the one refresh grace of this token: true for exactly one caller, however many present it at once. */
    claimRefreshGrace: (token: Pick<RefreshTokenPayload, 'grantId' | 'generation'>, familyExpiresAt: Date, now: Date): Promise<boolean> =>
      claim(refreshGraceClaimId(token), addSeconds(familyExpiresAt, CLAIM_MARGIN_SECONDS), now),

    /** True when the refresh grace of this token was used. */
    refreshGraceUsed: (token: Pick<RefreshTokenPayload, 'grantId' | 'generation'>): Promise<boolean> => claimExists(refreshGraceClaimId(token)),
  };
}

/** revocations: the durable record every revocation set loads and resyncs from. */
async function revocationOperations(db: Db, log: Logger) {
  const revocations = revocationsCollection(db);
  await ensureIndexes(revocations, [expiresAtTtl], log);
  await prepareRevocations(db, log);
  return {
    /** Records (or extends) a revocation; recording one twice keeps the later instants. Stamped with the database's clock. */
    async recordRevocation(revocation: Revocation, now: Date): Promise<void> {
      await writeRevocation(db, revocation, now);
    },
    /** Which of these grants have a stored revocation record (the durable truth, not what memory holds). */
    async storedGrantRevocations(grantIds: string[]): Promise<Set<string>> {
      if (grantIds.length === 0) return new Set();
      const docs = await revocations.find({ _id: { $in: grantIds.map((g) => revocationId('grant', g)) } }, { projection: { key: 1 } }).toArray();
      return new Set(docs.map((d) => d.key));
    },
    sweepExpired: (now: Date) => revocations.deleteMany({ expiresAt: { $lte: now } }),
  };
}

/**
 * The right to make the successor of signing key K: a claim `successor:<K's kid>` that carries the
 * whole new key (private part encrypted as in signing_keys). Landing the claim decides which key
 * succeeds K; putting that key into signing_keys is a second unique insert (its kid) that whoever
 * finds the claim without its key may do, so a rotator that dies between the two delays the
 * rotation by one check, never forever, and the one insert that lands announces it.
 */
export type SigningKeySuccessorClaim = { predecessorKid: string; key: SigningKeyDoc; claimedAt: Date; expiresAt: Date };
type SuccessorClaimDoc = Omit<SigningKeySuccessorClaim, 'predecessorKid'> & { _id: string };
const successorClaimId = (predecessorKid: string) => `successor:${predecessorKid}`;

/** signing_keys (the key ring's and the verifier's source) and signing_key_claims (who rotates). */
async function signingKeyOperations(db: Db, log: Logger) {
  const keys = signingKeysCollection(db);
  const claims = db.collection<SuccessorClaimDoc>('signing_key_claims', EXACTLY_ONCE);
  await ensureIndexes(keys, [{ key: { createdAt: -1 } }], log);
  const insertOnce = async (insert: () => Promise<unknown>): Promise<boolean> => {
    try {
      await insert();
      return true;
    } catch (error) {
      if (isDuplicateKey(error)) return false;
      throw error;
    }
  };
  return {
    /** Keys that verify tokens now (not retired), newest first. */
    async publishedSigningKeys(now: Date): Promise<SigningKeyDoc[]> {
      return keys.find(publishedKeysFilter(now)).sort({ createdAt: -1, _id: -1 }).toArray();
    },

    async createSigningKey(kek: Buffer, now: Date): Promise<SigningKeyDoc> {
      return insertSigningKey(db, kek, now);
    },

    /** True when this call landed the claim to succeed `claim.predecessorKid` (a unique insert). */
    async claimSigningKeySuccessor(claim: SigningKeySuccessorClaim): Promise<boolean> {
      const { predecessorKid, ...rest } = claim;
      return insertOnce(() => claims.insertOne({ _id: successorClaimId(predecessorKid), ...rest }));
    },

    /** The claim to succeed `predecessorKid`, if one was landed (and has not expired). */
    async signingKeySuccessorClaim(predecessorKid: string, now: Date): Promise<SigningKeySuccessorClaim | null> {
      const doc = await claims.findOne({ _id: successorClaimId(predecessorKid), expiresAt: { $gt: now } });
      if (!doc) return null;
      const { _id, ...rest } = doc;
      return { predecessorKid, ...rest };
    },

    /** True when this call put `key` into signing_keys; false when a key with its kid is there already. */
    async insertSuccessorSigningKey(key: SigningKeyDoc): Promise<boolean> {
      return insertOnce(() => keys.insertOne(key));
    },

    /** Marks keys superseded, each only if nobody has (the same values whoever writes them). */
    async supersedeSigningKeys(updates: { kid: string; supersededAt: Date; retireAt: Date }[]): Promise<void> {
      for (const { kid, supersededAt, retireAt } of updates) {
        await keys.updateOne({ _id: kid, supersededAt: null }, { $set: { supersededAt, retireAt } });
      }
    },

    /** Clean-up only: a claim outlives any rotation check that could still read its predecessor as the newest key. */
    sweepExpiredSigningKeyClaims: async (now: Date): Promise<number> => (await claims.deleteMany({ expiresAt: { $lte: now } })).deletedCount,
  };
}

export type TokenStore = Awaited<ReturnType<typeof createTokenStore>>;
export type SigningKeyStore = Awaited<ReturnType<typeof signingKeyOperations>>;

type AsyncMethods = Record<string, (...args: never[]) => Promise<unknown>>;

/** Wraps every operation so that an unreachable database surfaces as temporarily_unavailable. */
function guardAvailability<T extends AsyncMethods>(operations: T): T {
  const guarded: Record<string, unknown> = {};
  for (const [name, operation] of Object.entries(operations)) {
    guarded[name] = async (...args: never[]) => {
      try {
        return await operation(...args);
      } catch (error) {
        if (isDatabaseUnavailable(error)) throw unavailable(`database unavailable during ${name}: ${(error as Error).message}`);
        throw error;
      }
    };
  }
  return guarded as T;
}
