// A validated authorization request travels sealed (shared/grants/sealed-state.ts) as the handle
// consent-ui carries: describing it and deciding it read nothing. Its random `id` keys the one
// decision it may get (store.ts).
import { createSealer, type Sealer } from '#shared/grants/sealed-state.ts';

export type AuthorizationRequest = {
  clientId: string;
  redirectUri: string;
  /** True when the client sent redirect_uri; the token request must then repeat it (RFC 6749 §4.1.3). */
  redirectUriSent: boolean;
  scopes: string[];
  state: string | undefined;
  codeChallenge: string | undefined;
  /** RFC 8707: the resource servers the request names (checked as registered); absent when it names none. */
  resources?: string[];
};

export type PendingRequest = AuthorizationRequest & { id: string };

export type AuthorizationRequests = Sealer<PendingRequest>;

export const authorizationRequestSealer = (keyEncryptionKey: Buffer): AuthorizationRequests =>
  createSealer<PendingRequest>(keyEncryptionKey, 'authorization-request');
