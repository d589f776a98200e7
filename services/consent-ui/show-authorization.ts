// What the browser gets for a pending authorization request: the sign-in page when no one is
// signed in, the consent page when the owner must decide, or, when a remembered consent already
// covers every requested scope, the decision at once and the redirect back to the client.
import type { AuthorizationDescription } from './request-descriptions.ts';
import type { Session } from '#shared/signed-in/session.ts';
import type { RequestDescriber } from './request-descriptions.ts';
import { approveRemembered, type Deps as RememberedDeps } from './approve-remembered.ts';

export type Deps = RememberedDeps & { requests: RequestDescriber };

export type ShowResult =
  | { kind: 'sign-in'; request: AuthorizationDescription }
  | { kind: 'consent'; request: AuthorizationDescription; session: Session }
  | { kind: 'redirect'; redirectTo: string };

/** `session`: the browser's session, which may still be being read (the request is described meanwhile). */
export async function showAuthorization(
  deps: Deps,
  input: { handle: string; session: Session | undefined | Promise<Session | undefined>; reqId: string },
): Promise<ShowResult> {
  const described = deps.requests.describe(input.handle);
  described.catch(() => undefined); // answered below, once the session is read
  const session = await input.session;
  const request = await described;
  if (!session) return { kind: 'sign-in', request };
  const redirectTo = await approveRemembered(deps, { handle: input.handle, session, request, reqId: input.reqId });
  return redirectTo === undefined ? { kind: 'consent', request, session } : { kind: 'redirect', redirectTo };
}
