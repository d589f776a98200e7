// Client authentication for introspection (RFC 7662 §2.1: the endpoint MUST require
// authorization; here client_secret_basic or client_secret_post, RFC 6749 §2.3.1). Secrets are
// compared as SHA-256 hashes in constant time. After MAX_CONSECUTIVE_FAILURES failures for one
// client, every attempt for it is refused for LOCKOUT_MS with the same answer as any failure.
import type { Clock } from '#shared/clock.ts';
import { safeEqual, sha256 } from '#shared/crypto.ts';
import { OAuthError } from '#shared/oauth-error.ts';
import type { ClientDoc } from '#shared/reference-data/clients.ts';

export const MAX_CONSECUTIVE_FAILURES = 10;
export const LOCKOUT_MS = 60_000;
/** Bounds the failure table; only known clients are tracked, so this is rarely reached. */
const MAX_TRACKED_CLIENTS = 10_000;

export type ClientCredentials = { clientId: string; clientSecret: string };

export type Deps = {
  findClient(id: string): Promise<ClientDoc | undefined>;
  clock: Clock;
  failures: ClientAuthFailures;
};

type Failures = { count: number; lockedUntilMs: number };

/** Consecutive authentication failures per client (in memory, per instance). */
export class ClientAuthFailures {
  readonly #byClient = new Map<string, Failures>();

  isLocked(clientId: string, nowMs: number): boolean {
    const entry = this.#byClient.get(clientId);
    return entry !== undefined && entry.lockedUntilMs > nowMs;
  }

  fail(clientId: string, nowMs: number): void {
    const entry = this.#byClient.get(clientId) ?? { count: 0, lockedUntilMs: 0 };
    entry.count += 1;
    if (entry.count >= MAX_CONSECUTIVE_FAILURES) {
      entry.lockedUntilMs = nowMs + LOCKOUT_MS;
      entry.count = 0;
    }
    this.#byClient.delete(clientId);
    this.#byClient.set(clientId, entry);
    if (this.#byClient.size > MAX_TRACKED_CLIENTS) {
      const oldest = this.#byClient.keys().next();
      if (!oldest.done) this.#byClient.delete(oldest.value);
    }
  }

  succeed(clientId: string): void {
    this.#byClient.delete(clientId);
  }
}

// Compared against when the client is unknown or has no secret, so every failure costs the same.
const DECOY_HASH = sha256('no client has this secret');

export const invalidClient = (detail: string) => new OAuthError('invalid_client', 'Client authentication failed.', detail);

export async function authenticateClient(deps: Deps, credentials: ClientCredentials | undefined): Promise<ClientDoc> {
  // RFC 7662 §2.1: the protected resource must authenticate to the introspection endpoint.
  if (!credentials) throw invalidClient('no client credentials');
  const nowMs = deps.clock.now().getTime();
  const client = await deps.findClient(credentials.clientId);
  const presented = sha256(credentials.clientSecret);
  const matches = safeEqual(presented, client?.secretHash ?? DECOY_HASH);
  if (!client || client.type !== 'confidential' || client.secretHash === undefined) throw invalidClient('unknown client or client without a secret');
  if (deps.failures.isLocked(client._id, nowMs)) throw invalidClient('client locked after repeated authentication failures');
  if (!matches) {
    deps.failures.fail(client._id, nowMs);
    throw invalidClient('wrong client secret');
  }
  deps.failures.succeed(client._id);
  return client;
}
