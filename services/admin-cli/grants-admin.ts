// Grants as the admin CLI sees them: token-service's refresh token families
// (refresh_token_families, one per grant of a client with refresh tokens). Read here for
// `grants list`, and marked revoked when an operator ends them (the revocation record is what
// refuses their tokens; see end-access.ts). A grant of a client without refresh tokens has no
// family, only its code's claim (stored closed, `claimOnly`): it ends through `users
// disable|delete` or `clients disable|delete`, or `grants revoke --user|--client`, which cut off
// every token of the user or client.
import type { Db } from 'mongodb';
import { AdminError } from './admin-error.ts';

/** The fields of token-service's family document the CLI reads (services/token-service/store.ts). */
export type FamilyDoc = {
  _id: string; // grant id
  clientId: string;
  sub: string;
  username: string;
  scopes: string[];
  accessTokenTtlSeconds: number;
  createdAt: Date;
  expiresAt: Date;
  revokedAt: Date | null;
  /** The claim of a code that issued no refresh token: not a grant the CLI lists or revokes. */
  claimOnly?: true;
};

export const familiesCollection = (db: Db) => db.collection<FamilyDoc>('refresh_token_families');

/** A grant id as token-service makes them: randomToken(16), 22 characters of base64url. */
export const GRANT_ID = /^[A-Za-z0-9_-]{22}$/;

export type GrantView = { grantId: string; clientId: string; username: string; sub: string; scope: string; created: Date; expires: Date };

export const grantView = (f: FamilyDoc): GrantView => ({
  grantId: f._id, clientId: f.clientId, username: f.username, sub: f.sub, scope: f.scopes.join(' '), created: f.createdAt, expires: f.expiresAt,
});

/** The live (unrevoked, unexpired) family of this grant; a refusal when there is none. */
export async function liveGrant(db: Db, grantId: string, now: Date): Promise<FamilyDoc> {
  const family = await familiesCollection(db).findOne({ _id: grantId });
  if (!family || family.claimOnly) throw new AdminError(`no grant "${grantId}"`);
  if (family.revokedAt !== null || family.expiresAt <= now) throw new AdminError(`grant "${grantId}" has already ended`);
  return family;
}
