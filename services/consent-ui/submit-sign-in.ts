// The sign-in form. With a pending authorization request (its handle in the form) the request is
// described first (an expired one ends here), the sign-in is reported with its client, and after a
// success a remembered consent that covers the request approves it at once: straight back to the
// client instead of through the consent page. Without one, the owner goes on to "Your authorizations".
import type { AuthorizationDescription } from './request-descriptions.ts';
import type { Session } from '#shared/signed-in/session.ts';
import type { RequestDescriber } from './request-descriptions.ts';
import { signIn, type Deps as SignInDeps } from './sign-in.ts';
import { approveRemembered, type Deps as RememberedDeps } from './approve-remembered.ts';

export type Deps = { requests: RequestDescriber; signIn: SignInDeps; remembered: RememberedDeps };

export type SubmitSignInInput = {
  username: string;
  password: string;
  ip: string;
  handle: string | undefined;
  /** The session the browser already had, if any (it ends). */
  previousSession: Session | undefined;
  reqId: string;
};

/** Where a signed-in owner goes next. */
export type AfterSignIn = { to: 'client'; redirectTo: string } | { to: 'request'; handle: string } | { to: 'authorizations' };

export type SubmitSignInResult =
  /** The sign-in page again: `missing` a username or password, or `refused` (one answer for every failure). */
  | { kind: 'retry'; problem: 'missing' | 'refused'; request: AuthorizationDescription | undefined }
  /** `notApproved`: why a remembered consent could not approve the request (the request's page will say). */
  | { kind: 'signed-in'; session: Session; next: AfterSignIn; notApproved?: unknown };

export async function submitSignIn(deps: Deps, input: SubmitSignInInput): Promise<SubmitSignInResult> {
  const { handle, reqId } = input;
  const request = handle === undefined ? undefined : await deps.requests.describe(handle);
  if (input.username === '' || input.password === '') return { kind: 'retry', problem: 'missing', request };
  const result = await signIn(deps.signIn, {
    username: input.username,
    password: input.password,
    ip: input.ip,
    ...(request ? { clientId: request.clientId } : {}),
    ...(input.previousSession ? { previousSession: input.previousSession } : {}),
  });
  if (!result.ok) return { kind: 'retry', problem: 'refused', request };
  const { session } = result;
  if (handle === undefined || !request) return { kind: 'signed-in', session, next: { to: 'authorizations' } };
  try {
    const redirectTo = await approveRemembered(deps.remembered, { handle, session, request, reqId });
    return { kind: 'signed-in', session, next: redirectTo === undefined ? { to: 'request', handle } : { to: 'client', redirectTo } };
  } catch (error) {
    // Anything that stops the remembered consent (a failure) is shown by the request's page.
    return { kind: 'signed-in', session, next: { to: 'request', handle }, notApproved: error };
  }
}
