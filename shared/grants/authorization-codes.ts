// Authorization codes are sealed (shared/grants/sealed-state.ts): authorize-service seals one when
// the owner approves, token-service opens it at the token endpoint. The code carries everything it
// is bound to (RFC 6749 §4.1.3, RFC 7636 §4.6), so issuing one writes nothing and redeeming one
// reads nothing; what makes it single-use is token-service's unique insert keyed by its grant id.
import { createSealer, type Sealer } from '#shared/grants/sealed-state.ts';

/** Longest code lifetime (CODE_TTL_SECONDS' ceiling; RFC 6749 §4.1.2: 10 minutes at most). */
export const MAX_CODE_TTL_SECONDS = 600;

export type AuthorizationCodePayload = {
  /** The grant (refresh token family) the code starts; its id keys the code's single use. */
  grantId: string;
  clientId: string;
  redirectUri: string;
  /** True when the authorization request sent redirect_uri: the token request must repeat it (RFC 6749 §4.1.3). */
  redirectUriSent: boolean;
  /** BASE64URL(SHA256(code_verifier)) the token request must match; null without PKCE. */
  codeChallenge: string | null;
  scopes: string[];
  sub: string;
  username: string;
  /** The owner's sign-in time, epoch seconds. */
  authTime: number;
  /** When the owner approved (epoch ms): where the grant begins, for the owner's later withdrawal of consent. */
  issuedAt: number;
  /** RFC 8707: the resource servers the authorization request named; absent when it named none. */
  resources?: string[];
};

export type AuthorizationCodes = Sealer<AuthorizationCodePayload>;

export const authorizationCodeSealer = (keyEncryptionKey: Buffer): AuthorizationCodes =>
  createSealer<AuthorizationCodePayload>(keyEncryptionKey, 'authorization-code');
