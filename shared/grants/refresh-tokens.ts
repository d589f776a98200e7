// Refresh tokens are sealed (shared/grants/sealed-state.ts): each carries its grant, its place
// in the grant's rotation and what the grant allows, so rotating one reads nothing. What makes a
// token single-use is the claim `refresh:<grant id>:<generation>` in grant_claims, inserted by
// token-service when it is spent. Whether the grant was revoked is answered by the RevocationSet
// (grant records and the owner's subject_client cut-off, against the grant's start).
import { createSealer, type Opened, type Sealer, type WireCodec } from '#shared/grants/sealed-state.ts';
import type { RevocableToken } from '#shared/grants/revocation-set.ts';

export type RefreshTokenPayload = {
  /** The grant (refresh token family). */
  grantId: string;
  /** 0 for the token the code exchange issued, +1 per rotation. */
  generation: number;
  clientId: string;
  sub: string;
  username: string;
  /** Scopes of the original grant. */
  scopes: string[];
  /** The owner's sign-in time, epoch seconds. */
  authTime: number;
  /** When the grant began (the owner's approval), epoch milliseconds. */
  grantStartedAtMs: number;
  /** RFC 9449 §5: a public client's token issued with a DPoP proof is bound to that key (its thumbprint); refreshing needs a proof by it. */
  jkt?: string;
  /** RFC 8707: the resource servers the grant was authorized for; absent when the authorization named none. */
  resources?: string[];
};

/** Short keys inside the seal: every byte is in every token. */
type Wire = { g: string; n: number; c: string; sub: string; u: string; s: string[]; at: number; ia: number; k?: string; r?: string[] };

const wire: WireCodec<RefreshTokenPayload> = {
  toWire: (p): Wire => ({
    g: p.grantId, n: p.generation, c: p.clientId, sub: p.sub, u: p.username, s: p.scopes, at: p.authTime, ia: p.grantStartedAtMs,
    ...(p.jkt !== undefined ? { k: p.jkt } : {}),
    ...(p.resources?.length ? { r: p.resources } : {}),
  }),
  fromWire: (value) => {
    const w = value as Partial<Wire> | null;
    if (typeof w !== 'object' || w === null || typeof w.g !== 'string' || !Number.isInteger(w.n) || typeof w.c !== 'string') return undefined;
    if (typeof w.sub !== 'string' || typeof w.u !== 'string' || !Array.isArray(w.s) || typeof w.at !== 'number' || typeof w.ia !== 'number') return undefined;
    if (w.k !== undefined && typeof w.k !== 'string') return undefined;
    if (w.r !== undefined && (!Array.isArray(w.r) || w.r.some((r) => typeof r !== 'string'))) return undefined;
    return {
      grantId: w.g, generation: w.n!, clientId: w.c, sub: w.sub, username: w.u, scopes: w.s, authTime: w.at, grantStartedAtMs: w.ia,
      ...(w.k === undefined ? {} : { jkt: w.k }), ...(w.r?.length ? { resources: w.r } : {}),
    };
  },
};

export type RefreshTokens = Sealer<RefreshTokenPayload>;

export const refreshTokenSealer = (keyEncryptionKey: Buffer): RefreshTokens => createSealer(keyEncryptionKey, 'refresh-token', wire);

/** The claim that spends this token (grant_claims `_id`). */
export const refreshTokenClaimId = (payload: Pick<RefreshTokenPayload, 'grantId' | 'generation'>): string =>
  `refresh:${payload.grantId}:${payload.generation}`;

/** The claim that uses this token's one refresh grace (a client with `refreshGraceSeconds`), in grant_claims. */
export const refreshGraceClaimId = (payload: Pick<RefreshTokenPayload, 'grantId' | 'generation'>): string =>
  `refresh_grace:${payload.grantId}:${payload.generation}`;

/** What the RevocationSet checks for a grant begun at `startedAtMs`: the grant, and its owner's grants to its client. */
export const revocableGrant = (grantId: string, sub: string, clientId: string, startedAtMs: number): RevocableToken =>
  ({ grantId, sub, clientId, iat: Math.floor(startedAtMs / 1000), iatMs: startedAtMs });

/** What the RevocationSet checks for a refresh token: its grant. */
export const revocableRefreshToken = ({ payload }: Opened<RefreshTokenPayload>): RevocableToken =>
  revocableGrant(payload.grantId, payload.sub, payload.clientId, payload.grantStartedAtMs);
