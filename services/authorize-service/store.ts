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

export type AuthorizationCodeDoc = {
  _id: string; // SHA-256 of the code
  clientId: string;
  redirectUri: string;
  redirectUriSent: boolean;
  codeChallenge: string | null;
  scopes: string[];
  sub: string;
  username: string;
  authTime: Date;
  /** The grant (refresh token family) the code starts; revoked as a whole on code replay. */
  grantId: string;
  createdAt: Date;
  expiresAt: Date;
  consumedAt: Date | null;
};

export async function createAuthorizeStore(db: Db, log: Logger) {
  const requests = db.collection<AuthorizationRequestDoc>('authorization_requests');
  const decisions = db.collection<AuthorizationDecisionDoc>('authorization_decisions');
  const codes = db.collection<AuthorizationCodeDoc>('authorization_codes');
  await ensureIndexes(requests, [expiresAtTtl], log);
  await ensureIndexes(decisions, [expiresAtTtl], log);
  await ensureIndexes(codes, [expiresAtTtl], log);

  return {
    async saveRequest(handleHash: string, request: AuthorizationRequest, now: Date, expiresAt: Date): Promise<void> {
      await requests.insertOne({ _id: handleHash, ...request, createdAt: now, expiresAt });
    },
    async findRequest(handleHash: string, now: Date): Promise<AuthorizationRequest | null> {
      return requests.findOne({ _id: handleHash, expiresAt: { $gt: now } });
    },
    /**
     * The pending request, claimed for one decision: of any number of concurrent calls for one
     * handle exactly one gets the request, the others null (as for an unknown or expired one).
     */
    async claimRequest(handleHash: string, approved: boolean, now: Date): Promise<AuthorizationRequest | null> {
      const request = await requests.findOne({ _id: handleHash, expiresAt: { $gt: now } });
      if (!request) return null;
      try {
        await decisions.insertOne({ _id: handleHash, approved, createdAt: now, expiresAt: request.expiresAt });
      } catch (error) {
        if (isDuplicateKey(error)) return null;
        throw error;
      }
      // The decision record now guards the request; removing it is clean-up only.
      await requests.deleteOne({ _id: handleHash }).catch(() => undefined);
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
