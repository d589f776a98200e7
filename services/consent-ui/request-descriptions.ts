// Pending authorization requests as authorize-service described them, kept by this instance
// until each request expires. The sign-in page, the sign-in that follows it and the consent page
// all show one request, and asking authorize-service once is enough: what a handle carries (its
// client and scopes) is sealed and never changes. What may change meanwhile is the client (renamed
// or deleted) and the scope descriptions, so a reused description takes both from this service's
// own reference data, as authorize-service would. A decided request is described all the same
// (authorize-service does so too); its decision is refused at authorize-service.
import type { Clock } from '#shared/clock.ts';
import { sha256 } from '#shared/crypto.ts';
import { OAuthError } from '#shared/oauth-error.ts';
import type { ClientDoc } from '#shared/reference-data/clients.ts';
import type { ScopeDoc } from '#shared/reference-data/scopes.ts';
import type { AuthorizationDescription, NatsClient } from './nats-client.ts';

export type Deps = {
  nats: Pick<NatsClient, 'describeAuthorization'>;
  clock: Clock;
  findClient(id: string): Promise<ClientDoc | undefined>;
  scope(name: string): ScopeDoc | undefined;
};

type Known = { clientId: string; scopes: string[]; resources: string[]; expiresAt: Date };

export type RequestDescriber = { describe(handle: string, reqId: string): Promise<AuthorizationDescription> };

/** Bounded (oldest out first) and keyed by the handle's hash, so a large handle costs no more to keep. */
export class RequestDescriptions implements RequestDescriber {
  readonly #deps: Deps;
  readonly #maxEntries: number;
  readonly #known = new Map<string, Known>();

  constructor(deps: Deps, maxEntries = 10_000) {
    this.#deps = deps;
    this.#maxEntries = maxEntries;
  }

  /** The request a handle carries; an unknown, expired or tampered handle (or a deleted client) is invalid_request. */
  async describe(handle: string, reqId: string): Promise<AuthorizationDescription> {
    const key = sha256(handle);
    const known = this.#known.get(key);
    if (known && known.expiresAt > this.#deps.clock.now()) return this.#fromReferenceData(key, known);
    this.#known.delete(key);
    const described = await this.#deps.nats.describeAuthorization(handle, reqId);
    // Kept only when authorize-service says how long the request lives.
    if (described.expiresAt && this.#maxEntries > 0) {
      const { clientId, resources, expiresAt } = described;
      this.#known.set(key, { clientId, scopes: described.scopes.map((s) => s.name), resources, expiresAt });
      if (this.#known.size > this.#maxEntries) this.#known.delete(this.#known.keys().next().value!);
    }
    return described;
  }

  async #fromReferenceData(key: string, known: Known): Promise<AuthorizationDescription> {
    const client = await this.#deps.findClient(known.clientId);
    if (!client || client.disabled === true) {
      this.#known.delete(key);
      throw new OAuthError('invalid_request', 'The authorization request is unknown, already answered or expired.', 'the client is gone or disabled');
    }
    return {
      clientId: client._id,
      clientName: client.name,
      scopes: known.scopes.map((name) => ({ name, description: this.#deps.scope(name)?.description ?? name })),
      resources: known.resources,
      expiresAt: known.expiresAt,
    };
  }
}
