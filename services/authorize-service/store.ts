// authorization_decisions: the one decision each authorization request may get. The request
// itself is sealed into its handle (shared/grants/authorization-requests.ts) and the code into itself
// (shared/grants/authorization-codes.ts), so this is the only record authorize-service writes.
//
// Single use rests on a unique-key insert, not on findOneAndUpdate/findOneAndDelete filters:
// FerretDB (the local and CI database) does not apply those atomically under concurrency, while
// a duplicate-key insert fails for all but one writer on every MongoDB-protocol database.
import type { Db } from 'mongodb';
import { addSeconds } from '#shared/clock.ts';
import { ensureIndexes, expiresAtTtl } from '#shared/mongo.ts';
import type { Logger } from '#shared/logger.ts';
import { EXACTLY_ONCE, UniqueInserts, type WriteObserver } from '#shared/unique-inserts.ts';

type AuthorizationDecisionDoc = {
  _id: string;
  approved: boolean;
  createdAt: Date;
  expiresAt: Date;
  /** Who decided, and the grant an approval began: a retried decision gets the same outcome (absent on older records). */
  sub?: string;
  grantId?: string;
};

/** The one use of a pushed authorization request (RFC 9126 §4): keyed by the request's random id. */
type PushedRequestUseDoc = { _id: string; createdAt: Date; expiresAt: Date };

/** A decision as recorded: what a retry of it is answered from. */
export type RecordedDecision = { approved: boolean; decidedAt: Date; sub?: string; grantId?: string };

const DECISION_MARGIN_SECONDS = 3600;
/** Collections of earlier versions (requests and codes were stored then), swept until empty. */
const LEGACY_COLLECTIONS = ['authorization_requests', 'authorization_codes'];

export async function createAuthorizeStore(db: Db, log: Logger, observe?: WriteObserver) {
  const decisions = db.collection<AuthorizationDecisionDoc>('authorization_decisions', EXACTLY_ONCE);
  await ensureIndexes(decisions, [expiresAtTtl], log);
  // Grouped: under load many decisions go out as one insert.
  const decisionInserts = new UniqueInserts<AuthorizationDecisionDoc>(db, decisions.collectionName, { observe });
  const pushedUses = db.collection<PushedRequestUseDoc>('pushed_request_uses', EXACTLY_ONCE);
  await ensureIndexes(pushedUses, [expiresAtTtl], log);
  const pushedUseInserts = new UniqueInserts<PushedRequestUseDoc>(db, pushedUses.collectionName, { observe });

  return {
    /**
     * Records the decision on request `requestId`: of any number of concurrent calls for one
     * request exactly one gets true, the others false (as for one decided before). Kept until the
     * request has expired, after which its handle is refused anyway.
     */
    async claimDecision(
      requestId: string, decision: { approved: boolean; sub: string; grantId?: string }, now: Date, requestExpiresAt: Date,
    ): Promise<boolean> {
      // Kept a while past the request: a sweep on a clock running ahead must not free a handle another instance still accepts.
      const expiresAt = addSeconds(requestExpiresAt, DECISION_MARGIN_SECONDS);
      return decisionInserts.insert({ _id: requestId, ...decision, createdAt: now, expiresAt });
    },
    /** The decision recorded on request `requestId`, if any (read from the primary, as written: majority). */
    async findDecision(requestId: string): Promise<RecordedDecision | undefined> {
      const doc = await decisions.findOne({ _id: requestId });
      if (!doc) return undefined;
      return { approved: doc.approved, decidedAt: doc.createdAt, ...(doc.sub ? { sub: doc.sub } : {}), ...(doc.grantId ? { grantId: doc.grantId } : {}) };
    },
    /**
     * Takes the pushed request `id` (RFC 9126 §4: used once): of any number of concurrent calls
     * exactly one gets true. Kept a while past the request's expiry, after which it is refused anyway.
     */
    async claimPushedRequest(id: string, requestExpiresAt: Date): Promise<boolean> {
      return pushedUseInserts.insert({ _id: id, createdAt: new Date(), expiresAt: addSeconds(requestExpiresAt, DECISION_MARGIN_SECONDS) });
    },
    /** Removes expired decisions (where the database has no TTL indexes), and what an earlier version left. */
    async sweepExpired(now: Date): Promise<void> {
      await decisions.deleteMany({ expiresAt: { $lte: now } });
      await pushedUses.deleteMany({ expiresAt: { $lte: now } });
      for (const name of LEGACY_COLLECTIONS) await db.collection(name).deleteMany({ expiresAt: { $lte: now } });
    },
  };
}

export type AuthorizeStore = Awaited<ReturnType<typeof createAuthorizeStore>>;
