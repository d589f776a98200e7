// authorization_requests and authorization_codes: pending requests (by handle hash) and issued
// codes (by code hash). Each operation is one atomic call; every read filters on expiry.
import type { Db } from 'mongodb';
import { ensureIndexes, expiresAtTtl } from '#shared/mongo.ts';
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
  const codes = db.collection<AuthorizationCodeDoc>('authorization_codes');
  await ensureIndexes(requests, [expiresAtTtl], log);
  await ensureIndexes(codes, [expiresAtTtl], log);

  return {
    async saveRequest(handleHash: string, request: AuthorizationRequest, now: Date, expiresAt: Date): Promise<void> {
      await requests.insertOne({ _id: handleHash, ...request, createdAt: now, expiresAt });
    },
    async findRequest(handleHash: string, now: Date): Promise<AuthorizationRequest | null> {
      return requests.findOne({ _id: handleHash, expiresAt: { $gt: now } });
    },
    /** Removes and returns the pending request: a decision is taken once. */
    async takeRequest(handleHash: string, now: Date): Promise<AuthorizationRequest | null> {
      return requests.findOneAndDelete({ _id: handleHash, expiresAt: { $gt: now } });
    },
    async saveCode(code: AuthorizationCodeDoc): Promise<void> {
      await codes.insertOne(code);
    },
  };
}

export type AuthorizeStore = Awaited<ReturnType<typeof createAuthorizeStore>>;
