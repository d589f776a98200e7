// What the browser gets for a pending authorization request: the sign-in page when no one is
// signed in, the consent page when the owner must decide, or, when a remembered consent already
// covers every requested scope, the decision at once and the redirect back to the client.
import type { Clock } from '#shared/clock.ts';
import type { AuthorizationDescription, NatsClient } from './nats-client.ts';
import type { ConsentUiStore } from './store.ts';
import type { Session } from './session.ts';

export type Deps = {
  nats: Pick<NatsClient, 'describeAuthorization' | 'decideAuthorization'>;
  store: Pick<ConsentUiStore, 'findConsent' | 'recordGrant'>;
  clock: Clock;
};

export type ShowResult =
  | { kind: 'sign-in'; request: AuthorizationDescription }
  | { kind: 'consent'; request: AuthorizationDescription }
  | { kind: 'redirect'; redirectTo: string };

/** `request`: the pending request when the caller has just described it (sign-in does). */
export async function showAuthorization(
  deps: Deps,
  input: { handle: string; session: Session | undefined; reqId: string; request?: AuthorizationDescription },
): Promise<ShowResult> {
  const request = input.request ?? (await deps.nats.describeAuthorization(input.handle, input.reqId));
  const session = input.session;
  if (!session) return { kind: 'sign-in', request };
  const consent = await deps.store.findConsent(session.sub, request.clientId);
  const remembered = new Set(consent?.scopes ?? []);
  if (!request.scopes.every((scope) => remembered.has(scope.name))) return { kind: 'consent', request };
  const redirectTo = await deps.nats.decideAuthorization(
    { handle: input.handle, approve: true, sub: session.sub, username: session.username, authTime: session.authTime },
    input.reqId,
  );
  // The grant is recorded for "Your authorizations"; a remembered consent usually has it already,
  // and then there is nothing to write.
  const granted = new Set(consent?.grantedScopes ?? []);
  if (!request.scopes.every((scope) => granted.has(scope.name))) {
    await deps.store.recordGrant(session.sub, request.clientId, request.scopes.map((s) => s.name), false, deps.clock.now());
  }
  return { kind: 'redirect', redirectTo };
}
