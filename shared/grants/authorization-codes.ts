// Authorization codes are sealed (shared/grants/sealed-state.ts): authorize-service seals one when
// the owner approves, token-service opens it at the token endpoint. The code carries everything it
// is bound to (RFC 6749 §4.1.3, RFC 7636 §4.6), so issuing one writes nothing and redeeming one
// reads nothing; what makes it single-use is token-service's unique insert keyed by its grant id.
//
// Which insert is fixed by the code's sealed kind, never by the client's settings when the code is
// presented, so every presentation of a code contends on the same key. Codes sealed now are
// claimed by the insert of their grant's family alone. Codes of the earlier kind (sealed by an
// authorize-service of an earlier release during an upgrade) are claimed as that release did, by
// `code:<grant id>` and then the family; and an earlier token-service cannot open a code of the
// new kind at all (another key and associated data), so it refuses it rather than claim it its way.
import { createSealer, type Opened } from '#shared/grants/sealed-state.ts';

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
  /**
   * Where the grant begins (epoch ms), for the owner's later withdrawal of consent: when the owner
   * approved, or, for a remembered consent, when its read was sent (a cached read's own time).
   */
  issuedAt: number;
  /** RFC 8707: the resource servers the authorization request named; absent when it named none. */
  resources?: string[];
};

/** How an opened code is made single-use: by its family's insert alone, or (the earlier kind) by `code:<grant id>` and then the family. */
export type CodeClaim = 'family' | 'code-then-family';

export type OpenedCode = Opened<AuthorizationCodePayload> & { claim: CodeClaim };

export type AuthorizationCodes = {
  /** Seals a code of the current kind (claimed by its family). */
  seal(payload: AuthorizationCodePayload, expiresAt: Date): string;
  /** A code of either kind, with the claim its kind calls for; undefined when it is not a code sealed by this key. */
  open(sealed: string): OpenedCode | undefined;
};

export function authorizationCodeSealer(keyEncryptionKey: Buffer): AuthorizationCodes {
  const current = createSealer<AuthorizationCodePayload>(keyEncryptionKey, 'authorization-code-claimed-by-family');
  const earlier = createSealer<AuthorizationCodePayload>(keyEncryptionKey, 'authorization-code');
  return {
    seal: current.seal,
    open(sealed) {
      const opened = current.open(sealed);
      if (opened) return { ...opened, claim: 'family' };
      const fromEarlier = earlier.open(sealed);
      return fromEarlier && { ...fromEarlier, claim: 'code-then-family' };
    },
  };
}
