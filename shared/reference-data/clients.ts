import type { Db } from 'mongodb';

export const ClientTypes = ['confidential', 'public'] as const;
export type ClientType = (typeof ClientTypes)[number];

export type ClientDoc = {
  _id: string;
  name: string;
  type: ClientType;
  /** SHA-256 of the generated 256-bit secret; absent for public clients. */
  secretHash?: string;
  redirectUris: string[];
  scopes: string[];
  grantTypes: ('authorization_code' | 'refresh_token')[];
  accessTokenTtlSeconds: number;
  refreshTokenTtlSeconds: number;
  createdAt: Date;
  updatedAt: Date;
  /** Set by `oauth-admin clients disable`: the client cannot authenticate or start an authorization. */
  disabled?: boolean;
  /** The last time an operator ended the client's access (every token issued before it is revoked). */
  accessEndedAt?: Date;
  /** Set by `clients create --require-dpop`: every token request of the client needs a DPoP proof (RFC 9449 §5.2). */
  requireDpop?: boolean;
  /** `clients create --require-par`: authorization requests only through a pushed request (RFC 9126 §6). */
  requirePar?: boolean;
};

export const clientsCollection = (db: Db) => db.collection<ClientDoc>('clients');

export const DEFAULT_ACCESS_TOKEN_TTL_SECONDS = 600;
/** Bounds of a client's access-token lifetime (the admin CLI's checks; revocations last this long at most). */
export const MIN_ACCESS_TOKEN_TTL_SECONDS = 60;
export const MAX_ACCESS_TOKEN_TTL_SECONDS = 86_400;
export const DEFAULT_REFRESH_TOKEN_TTL_SECONDS = 30 * 86_400;

export const clientGetsRefreshTokens = (client: ClientDoc): boolean => client.grantTypes.includes('refresh_token');
