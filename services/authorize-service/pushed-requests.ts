// Pushed authorization requests (RFC 9126) are sealed like the other authorization state
// (shared/grants/sealed-state.ts, a kind of their own): the request_uri carries the client it was
// pushed by and the parameters it pushed, so pushing one writes nothing. Its random `id` keys the
// one use /authorize may make of it (store.ts, a unique insert).
import { createSealer, type Sealer } from '#shared/grants/sealed-state.ts';

/** RFC 9126 §2.2: the request_uri's URN prefix (defined with the oauth.authorization.push contract that carries it). */
export { REQUEST_URI_PREFIX } from '#shared/contracts/authorization-push.ts';

/** The authorization request's parameters as pushed (one value each; `resource` may repeat). */
export type PushedParams = Record<string, string | string[]>;

export type PushedRequest = { id: string; clientId: string; params: PushedParams };

export type PushedRequests = Sealer<PushedRequest>;

export const pushedRequestSealer = (keyEncryptionKey: Buffer): PushedRequests =>
  createSealer<PushedRequest>(keyEncryptionKey, 'pushed-authorization-request');
