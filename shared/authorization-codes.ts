// authorization_codes: written by authorize-service when the owner approves, redeemed by
// token-service. The document shape both sides rely on.
export type AuthorizationCodeDoc = {
  _id: string; // SHA-256 of the code
  clientId: string;
  redirectUri: string;
  /** True when the authorization request sent redirect_uri: the token request must repeat it (RFC 6749 §4.1.3). */
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

export const AUTHORIZATION_CODES = 'authorization_codes';
