// authorization_requests, authorization_decisions and authorization_codes: pending requests (by
// handle hash), the one decision each may get, and issued codes (by code hash). Each operation is
// one call; every read filters on expiry.
//
// Single use rests on unique-key inserts, not on findOneAndUpdate/findOneAndDelete filters:
// FerretDB (the local and CI database) does not apply those atomically under concurrency, while
// a duplicate-key insert fails for all but one writer on every MongoDB-protocol database.
import type { Db } from 'mongodb';
import { ensureIndexes, expiresAtTtl, isDuplicateKey } from '#shared/mongo.ts';
import type { Logger } from '#shared/logger.ts';
import type { AuthorizationCodeDoc } from '#shared/authorization-codes.ts';

export type AuthorizationRequest = {
  clientId: string;
  redirectUri: string;
  /** True when the client sent redirect_uri; the token request must then repeat it (RFC 6749 §4.1.3). */
  redirectUriSent: boolean;
  scopes: string[];
  state: string | undefined;
  codeChallenge: string | undefined;
};

type AuthorizationRequestDoc = AuthorizationRequest & { _id: string; createdAt: Date; expiresAt: Date };
type AuthorizationDecisionDoc = { _id: string; approved: boolean; createdAt: Date; expiresAt: Date };

export type { AuthorizationCodeDoc };

/**
 * Pending requests this instance stored or read lately, and those it saw decided. A request never
 * changes once stored, so describing it and reading it again for its decision need not go to the
 * database (the decision itself still does: the unique insert is what makes it happen once).
 * Bounded; oldest out first.
 */
class RecentRequests {
  readonly #max: number;
  readonly #entries = new Map<string, { doc: AuthorizationRequestDoc | undefined; expiresAt: Date }>();

  constructor(maxEntries: number) {
    this.#max = maxEntries;
  }

  /** The request, 'decided' when this instance saw it decided, or undefined when not known here. */
  get(handleHash: string, now: Date): AuthorizationRequestDoc | 'decided' | undefined {
    const entry = this.#entries.get(handleHash);
    if (!entry) return undefined;
    if (entry.expiresAt <= now) {
      this.#entries.delete(handleHash);
      return undefined;
    }
    return entry.doc ?? 'decided';
  }

  set(doc: AuthorizationRequestDoc): void {
    this.#put(doc._id, { doc, expiresAt: doc.expiresAt });
  }

  decided(handleHash: string, expiresAt: Date): void {
    this.#put(handleHash, { doc: undefined, expiresAt });
  }

  #put(handleHash: string, entry: { doc: AuthorizationRequestDoc | undefined; expiresAt: Date }): void {
    if (this.#max === 0) return;
    this.#entries.delete(handleHash);
    this.#entries.set(handleHash, entry);
    if (this.#entries.size > this.#max) this.#entries.delete(this.#entries.keys().next().value!);
  }
}

export async function createAuthorizeStore(db: Db, log: Logger, options: { cachedRequests?: number } = {}) {
  const requests = db.collection<AuthorizationRequestDoc>('authorization_requests');
  const decisions = db.collection<AuthorizationDecisionDoc>('authorization_decisions');
  const codes = db.collection<AuthorizationCodeDoc>('authorization_codes');
  await ensureIndexes(requests, [expiresAtTtl], log);
  await ensureIndexes(decisions, [expiresAtTtl], log);
  await ensureIndexes(codes, [expiresAtTtl], log);
  const recent = new RecentRequests(options.cachedRequests ?? 10_000);

  /** The pending request: from memory, else the database; null when unknown, expired or decided (as far as known here). */
  const readRequest = async (handleHash: string, now: Date): Promise<AuthorizationRequestDoc | null> => {
    const cached = recent.get(handleHash, now);
    if (cached === 'decided') return null;
    if (cached) return cached;
    const doc = await requests.findOne({ _id: handleHash, expiresAt: { $gt: now } });
    if (doc) recent.set(doc);
    return doc;
  };

  return {
    async saveRequest(handleHash: string, request: AuthorizationRequest, now: Date, expiresAt: Date): Promise<void> {
      const doc = { _id: handleHash, ...request, createdAt: now, expiresAt };
      await requests.insertOne(doc);
      recent.set(doc);
    },
    /**
     * The pending request to describe. A request decided by another instance may still be
     * described (its record stays until it expires); its decision is refused all the same.
     */
    async findRequest(handleHash: string, now: Date): Promise<AuthorizationRequest | null> {
      return readRequest(handleHash, now);
    },
    /**
     * The pending request, claimed for one decision: of any number of concurrent calls for one
     * handle exactly one gets the request, the others null (as for an unknown or expired one).
     * The request record is left to expire (the decision record guards it; a delete per decision
     * would be one more database command on the hot path, and a scan on FerretDB's SQLite backend).
     */
    async claimRequest(handleHash: string, approved: boolean, now: Date): Promise<AuthorizationRequest | null> {
      const request = await readRequest(handleHash, now);
      if (!request) return null;
      try {
        await decisions.insertOne({ _id: handleHash, approved, createdAt: now, expiresAt: request.expiresAt });
      } catch (error) {
        if (!isDuplicateKey(error)) throw error;
        recent.decided(handleHash, request.expiresAt);
        return null;
      }
      recent.decided(handleHash, request.expiresAt);
      return request;
    },
    /** Removes expired requests, decisions and codes (where the database has no TTL indexes). */
    async sweepExpired(now: Date): Promise<void> {
      await requests.deleteMany({ expiresAt: { $lte: now } });
      await decisions.deleteMany({ expiresAt: { $lte: now } });
      await codes.deleteMany({ expiresAt: { $lte: now } });
    },
    async saveCode(code: AuthorizationCodeDoc): Promise<void> {
      await codes.insertOne(code);
    },
  };
}

export type AuthorizeStore = Awaited<ReturnType<typeof createAuthorizeStore>>;
