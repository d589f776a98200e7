// Refresh tokens are sealed (shared/sealed/sealed-state.ts): each carries its grant, its place
// in the grant's rotation and what the grant allows, so rotating one reads nothing. What makes a
// token single-use is the claim `refresh:<grant id>:<generation>` in grant_claims, inserted when
// it is spent: token-service inserts it, validation-service (introspection) looks for it.
// Whether the grant was revoked is answered by the RevocationSet (grant records and the owner's
// subject_client cut-off, against the grant's start).
import { createSealer, type Opened, type Sealer } from '#shared/sealed/sealed-state.ts';
import type { RevocableToken } from '#shared/revocation-set.ts';

/** Short keys: every byte is in every token. */
export type RefreshTokenPayload = {
  /** grant id (refresh token family) */
  g: string;
  /** generation: 0 for the token the code exchange issued, +1 per rotation */
  n: number;
  /** client_id */
  c: string;
  sub: string;
  /** username */
  u: string;
  /** scopes of the original grant */
  s: string[];
  /** the owner's sign-in time, epoch seconds */
  at: number;
  /** when the grant began (code exchange), epoch milliseconds */
  ia: number;
};

export type RefreshTokens = Sealer<RefreshTokenPayload>;

export const refreshTokenSealer = (keyEncryptionKey: Buffer): RefreshTokens => createSealer<RefreshTokenPayload>(keyEncryptionKey, 'refresh-token');

/** The claim that spends this token (grant_claims `_id`). */
export const refreshTokenClaimId = (payload: Pick<RefreshTokenPayload, 'g' | 'n'>): string => `refresh:${payload.g}:${payload.n}`;

/** What the RevocationSet checks for a grant begun at `startedAtMs`: the grant, and its owner's grants to its client. */
export const revocableGrant = (grantId: string, sub: string, clientId: string, startedAtMs: number): RevocableToken =>
  ({ grantId, sub, clientId, iat: Math.floor(startedAtMs / 1000), iatMs: startedAtMs });

/** What the RevocationSet checks for a refresh token: its grant. */
export const revocableRefreshToken = ({ payload }: Opened<RefreshTokenPayload>): RevocableToken =>
  revocableGrant(payload.g, payload.sub, payload.c, payload.ia);
