// Refresh tokens are `<grant id>.<256 random bits>`: the grant id finds the family in one keyed
// lookup, the random part makes the token unguessable. Only SHA-256 of the whole string is stored.
import { randomToken, sha256 } from '#shared/crypto.ts';

const GRANT_ID = /^[A-Za-z0-9_-]{16,64}$/;
const SECRET_PART = /^[A-Za-z0-9_-]{43}$/;

export function newRefreshToken(grantId: string): { token: string; hash: string } {
  const token = `${grantId}.${randomToken(32)}`;
  return { token, hash: sha256(token) };
}

/** The grant id of a well-formed refresh token, or undefined. */
export function refreshTokenGrantId(token: string): string | undefined {
  const dot = token.indexOf('.');
  if (dot < 0) return undefined;
  const grantId = token.slice(0, dot);
  return GRANT_ID.test(grantId) && SECRET_PART.test(token.slice(dot + 1)) ? grantId : undefined;
}
