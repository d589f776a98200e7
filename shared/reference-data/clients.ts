import type { Db } from 'mongodb';

export const ClientTypes = ['confidential', 'public'] as const;
export type ClientType = (typeof ClientTypes)[number];
/** The grants of the token endpoint (grant_types_supported): what a client record may name. */
export const TokenGrantTypes = ['authorization_code', 'refresh_token', 'client_credentials'] as const;
export type TokenGrantType = (typeof TokenGrantTypes)[number];
/** The grants `clients create --grant-type` takes (refresh_token comes with --refresh-tokens). */
export const ClientGrantTypes = ['authorization_code', 'client_credentials'] as const;
export type ClientGrantType = (typeof ClientGrantTypes)[number];

export type ClientDoc = {
  _id: string;
  name: string;
  type: ClientType;
  /** SHA-256 of the generated 256-bit secret; absent for public clients. */
  secretHash?: string;
  redirectUris: string[];
  scopes: string[];
  /** client_credentials (RFC 6749 §4.4) only for confidential clients; a client with only it has no redirect URI. */
  grantTypes: TokenGrantType[];
  accessTokenTtlSeconds: number;
  refreshTokenTtlSeconds: number;
  createdAt: Date;
  updatedAt: Date;
  /** Set by `oauth-admin clients disable`: the client cannot authenticate or start an authorization. */
  disabled?: boolean;
  /**
   * Seconds after a refresh token's rotation during which the same client may present it once more
   * and get a normal answer (a lost response retried); absent means 0, strict rotation.
   */
  refreshGraceSeconds?: number;
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
/** The longest refresh-token lifetime a client may have (the admin CLI's check). */
export const MAX_REFRESH_TOKEN_TTL_SECONDS = 365 * 86_400;

export const clientGetsRefreshTokens = (client: ClientDoc): boolean => client.grantTypes.includes('refresh_token');

/** Bounds of `--refresh-grace-seconds`: beyond a minute a rotated token is more likely stolen than retried. */
export const MAX_REFRESH_GRACE_SECONDS = 60;

export const clientRefreshGraceSeconds = (client: ClientDoc): number => client.refreshGraceSeconds ?? 0;
