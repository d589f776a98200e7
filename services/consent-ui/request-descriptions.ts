// What a pending authorization request asks for, read from its handle here: the handle is sealed
// with the key every service derives from OAUTH_KEY_ENCRYPTION_KEY, so opening it costs a
// decryption, not a NATS round trip to authorize-service. The client's name and the scope
// descriptions come from this service's own reference data, as authorize-service would take
// them. A decided request is described all the same; its decision is refused at
// authorize-service, which opens the handle again and is the one that decides.
//
// Holding the key lets this service read and also seal handles. That grants little it lacked: it
// already tells authorize-service who approved, and a decision's reply carries the code; and
// authorize-service decides a handle only while its redirect URI and scopes are registered for its
// client (decide-authorization.ts). It makes no other sealed value (test/service-boundaries.test.ts).
import type { Clock } from '#shared/clock.ts';
import type { AuthorizationRequests } from '#shared/grants/authorization-requests.ts';
import { OAuthError } from '#shared/oauth-error.ts';
import type { ClientDoc } from '#shared/reference-data/clients.ts';
import type { ScopeDoc } from '#shared/reference-data/scopes.ts';

/** What the owner is asked about: the client and the description of every requested scope. */
export type AuthorizationDescription = {
  clientId: string;
  clientName: string;
  scopes: { name: string; description: string }[];
  /** RFC 8707: the resource servers the access would be for; empty when the request names none. */
  resources: string[];
  expiresAt: Date;
};

export type Deps = {
  requests: Pick<AuthorizationRequests, 'open'>;
  clock: Clock;
  findClient(id: string): Promise<ClientDoc | undefined>;
  scope(name: string): ScopeDoc | undefined;
};

export type RequestDescriber = { describe(handle: string): Promise<AuthorizationDescription> };

export const requestDescriber = (deps: Deps): RequestDescriber => ({
  /** The request a handle carries; an unknown, expired or tampered handle (or a deleted or disabled client) is invalid_request. */
  async describe(handle) {
    const opened = deps.requests.open(handle);
    if (!opened || opened.expiresAt <= deps.clock.now()) throw unknownRequest('the handle does not open or has expired');
    const { clientId, scopes, resources } = opened.payload;
    const client = await deps.findClient(clientId);
    if (!client || client.disabled === true) throw unknownRequest('the client is gone or disabled');
    return {
      clientId: client._id,
      clientName: client.name,
      scopes: scopes.map((name) => ({ name, description: deps.scope(name)?.description ?? name })),
      resources: resources ?? [],
      expiresAt: opened.expiresAt,
    };
  },
});

const unknownRequest = (why: string) =>
  new OAuthError('invalid_request', 'The authorization request is unknown, already answered or expired.', why);
