// What a pending authorization request asks for, read from its handle here: the handle is sealed
// with the key every service derives from OAUTH_KEY_ENCRYPTION_KEY, so opening it costs a
// decryption, not a NATS round trip to authorize-service. The client's name and the scope
// descriptions come from this service's own reference data. A decided request is described all
// the same; its decision is refused at authorize-service, which opens the handle again and is the
// one that decides.
//
// Holding the key lets this service read and also seal handles. That grants little it lacked: it
// already tells authorize-service who approved, and a decision's reply carries the code; and
// authorize-service decides a handle only while its redirect URI and scopes are registered for its
// client (decide-authorization.ts). It makes no other sealed value (test/service-boundaries.test.ts).
import { describeRequest, type AuthorizationDescription, type DescribeDeps } from '#shared/grants/describe-request.ts';

export type { AuthorizationDescription };
export type Deps = DescribeDeps;

export type RequestDescriber = { describe(handle: string): Promise<AuthorizationDescription> };

export const requestDescriber = (deps: Deps): RequestDescriber => ({ describe: (handle) => describeRequest(deps, handle) });
