// Client authentication at the token, revocation and introspection endpoints (RFC 6749 §2.3): client_secret_basic,
// client_secret_post, or none for public clients (client_id only). Secrets are compared as SHA-256
// hashes in constant time. After `maxFailures` consecutive failures a client's authentication is
// refused for `lockSeconds`, with the same answer as any failure (CONTRACT "Sign-in abuse").
// Failures, locks and resets are insert-only events (exact under concurrency on every database);
// the usual successful authentication writes nothing, and reads them at most once a second per
// client (CleanAuthStates), since a client with no recent failure is the common case by far.
import { addSeconds, type Clock } from '#shared/clock.ts';
import { safeEqual, sha256 } from '#shared/crypto.ts';
import type { Logger } from '#shared/logger.ts';
import type { Metrics } from '#shared/metrics.ts';
import { OAuthError } from '#shared/oauth-error.ts';
import type { ClientDoc } from '#shared/reference-data/clients.ts';
import type { ClientAuthEvent, ClientAuthEventStore } from './client-auth-events.ts';

export type ClientCredentials = {
  /** The raw Authorization header, if any. */
  authorization: string | undefined;
  /** client_id and client_secret from the form body, if sent. */
  clientId: string | undefined;
  clientSecret: string | undefined;
};

export type ClientAuthMethod = 'client_secret_basic' | 'client_secret_post' | 'none';
export type AuthenticatedClient = { client: ClientDoc; method: ClientAuthMethod };

export type Deps = {
  findClient(id: string): Promise<ClientDoc | undefined>;
  store: ClientAuthEventStore;
  clock: Clock;
  log: Pick<Logger, 'info' | 'warn'>;
  metrics: Pick<Metrics, 'count'>;
  maxFailures: number;
  lockSeconds: number;
  /** Clients known to have no failures or lock, so their events need not be read again at once. */
  cleanStates?: CleanAuthStates;
};

// One public sentence for every failure: the answer never tells which part was wrong.
export const clientAuthFailed = (detail: string) => new OAuthError('invalid_client', 'Client authentication failed.', detail);

export async function authenticateClient(deps: Deps, credentials: ClientCredentials): Promise<AuthenticatedClient> {
  const presented = presentedCredentials(credentials);
  const client = await deps.findClient(presented.clientId);
  if (!client) throw clientAuthFailed('unknown client');
  // `oauth-admin clients disable`: the same answer as any failure.
  if (client.disabled === true) throw clientAuthFailed('client disabled');

  if (client.type === 'public') {
    // A public client has no secret; one that presents a secret is not who it claims to be.
    if (presented.method !== 'none') throw clientAuthFailed('public client presented a secret');
    return { client, method: 'none' };
  }
  if (presented.method === 'none') throw clientAuthFailed('confidential client sent no secret');

  const now = deps.clock.now();
  const generation = deps.cleanStates?.generation(client._id);
  const state = deps.cleanStates?.isClean(client._id, now)
    ? { failures: 0, lockedUntil: null }
    : lockoutState(await deps.store.recentClientAuthEvents(client._id, deps.maxFailures + 1, now), now, deps.lockSeconds);
  if (state.lockedUntil || state.failures >= deps.maxFailures) {
    deps.metrics.count('client_auth', { outcome: 'locked' });
    throw clientAuthFailed('client authentication is locked after repeated failures');
  }
  if (!client.secretHash || !safeEqual(sha256(presented.secret), client.secretHash)) {
    deps.cleanStates?.forget(client._id);
    await recordFailure(deps, client._id, now);
    throw clientAuthFailed('wrong client secret');
  }
  // Only a run of failures needs a write on success; the usual path writes nothing.
  if (state.failures > 0) await deps.store.recordClientAuthEvent(client._id, 'reset', now);
  if (generation !== undefined) deps.cleanStates?.remember(client._id, generation, now);
  return { client, method: presented.method };
}

/**
 * Clients whose last authentication here succeeded with no failure or lock on record, for up to
 * `ttlMs`: their events are not read again within that time. A failure seen here forgets the
 * client at once (and a success that raced it cannot bring it back: each failure starts a new
 * generation). Failures seen only by another instance reach this one within `ttlMs`.
 */
export class CleanAuthStates {
  readonly #ttlMs: number;
  readonly #maxEntries: number;
  readonly #cleanUntil = new Map<string, number>();
  readonly #generations = new Map<string, number>();
  /** Bumped when the generations are dropped (bounded memory), so no older generation matches again. */
  #epoch = 0;

  constructor(ttlMs = 1000, maxEntries = 10_000) {
    this.#ttlMs = ttlMs;
    this.#maxEntries = maxEntries;
  }

  isClean(clientId: string, now: Date): boolean {
    return (this.#cleanUntil.get(clientId) ?? 0) > now.getTime();
  }

  generation(clientId: string): number {
    return this.#epoch * 1e9 + (this.#generations.get(clientId) ?? 0);
  }

  /** Remembers a clean state observed while the client's generation was `generation`. */
  remember(clientId: string, generation: number, now: Date): void {
    if (this.generation(clientId) !== generation) return;
    if (this.#cleanUntil.size >= this.#maxEntries && !this.#cleanUntil.has(clientId)) this.#cleanUntil.clear();
    this.#cleanUntil.set(clientId, now.getTime() + this.#ttlMs);
  }

  forget(clientId: string): void {
    this.#cleanUntil.delete(clientId);
    if (this.#generations.size >= this.#maxEntries && !this.#generations.has(clientId)) {
      this.#generations.clear();
      this.#cleanUntil.clear();
      this.#epoch++;
    }
    this.#generations.set(clientId, (this.#generations.get(clientId) ?? 0) + 1);
  }
}

async function recordFailure(deps: Deps, clientId: string, now: Date): Promise<void> {
  deps.metrics.count('client_auth', { outcome: 'failed' });
  await deps.store.recordClientAuthEvent(clientId, 'failure', now);
  // Counted after recording, so concurrent failures see each other and the tenth locks.
  const state = lockoutState(await deps.store.recentClientAuthEvents(clientId, deps.maxFailures + 1, now), now, deps.lockSeconds);
  if (state.failures >= deps.maxFailures && !state.lockedUntil) {
    await deps.store.recordClientAuthEvent(clientId, 'lock', now);
    deps.log.warn({ client_id: clientId, failures: state.failures, lockSeconds: deps.lockSeconds }, 'client authentication locked after repeated failures');
  }
}

/**
 * From the latest events (newest first): the failures since the last success or lock, and until
 * when a lock holds. A lock ends a run of failures; failures after it start a new run.
 */
export function lockoutState(events: ClientAuthEvent[], now: Date, lockSeconds: number): { failures: number; lockedUntil: Date | null } {
  let failures = 0;
  for (const event of events) {
    if (event.kind === 'failure') {
      failures++;
      continue;
    }
    if (event.kind === 'lock') {
      const until = addSeconds(event.createdAt, lockSeconds);
      return { failures, lockedUntil: until > now ? until : null };
    }
    break; // reset
  }
  return { failures, lockedUntil: null };
}

type Presented =
  | { method: 'client_secret_basic' | 'client_secret_post'; clientId: string; secret: string }
  | { method: 'none'; clientId: string };

/** Which method the request uses and the identifiers it presents; two methods at once is invalid_request. */
export function presentedCredentials({ authorization, clientId, clientSecret }: ClientCredentials): Presented {
  if (authorization !== undefined) {
    const basic = parseBasic(authorization);
    // RFC 6749 §2.3: the client MUST NOT use more than one authentication method in each request.
    if (clientSecret !== undefined) throw new OAuthError('invalid_request', 'The client used more than one authentication method.');
    if (clientId !== undefined && clientId !== basic.clientId) {
      throw new OAuthError('invalid_request', 'The client is identified more than once, differently.');
    }
    return { method: 'client_secret_basic', ...basic };
  }
  if (clientSecret !== undefined) {
    if (clientId === undefined) throw clientAuthFailed('client_secret without client_id');
    return { method: 'client_secret_post', clientId, secret: clientSecret };
  }
  if (clientId !== undefined) return { method: 'none', clientId };
  throw clientAuthFailed('no client credentials');
}

const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

/**
 * RFC 6749 §2.3.1 / RFC 7617: `Basic base64(form-urlencoded(client_id) ":" form-urlencoded(secret))`.
 * Anything malformed is a failed authentication.
 */
export function parseBasic(header: string): { clientId: string; secret: string } {
  const match = /^Basic +(\S+) *$/i.exec(header);
  if (!match || !BASE64.test(match[1]!) || match[1]!.length % 4 !== 0) throw clientAuthFailed('malformed Authorization header');
  const decoded = Buffer.from(match[1]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) throw clientAuthFailed('Basic credentials without a colon');
  const clientId = formDecode(decoded.slice(0, colon));
  const secret = formDecode(decoded.slice(colon + 1));
  if (clientId === undefined || secret === undefined || clientId === '' || secret === '') {
    throw clientAuthFailed('malformed Basic credentials');
  }
  return { clientId, secret };
}

function formDecode(value: string): string | undefined {
  try {
    return decodeURIComponent(value.replace(/\+/g, ' '));
  } catch {
    return undefined;
  }
}
