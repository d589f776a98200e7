// /authorize with `client_id` + `request_uri` (RFC 9126 §4): the pushed request, opened, checked
// against the client that pushed it and its expiry, and taken once (a unique insert: a second use,
// even a concurrent one, is refused). Its parameters are then the request's, and only they (§4:
// any other query parameter is ignored). Until the pushed request is known good nothing can be
// trusted to redirect to, so every refusal here is the error page.
import type { Clock } from '#shared/clock.ts';
import type { AuthorizeStore } from './store.ts';
import { REQUEST_URI_PREFIX, type PushedParams, type PushedRequests } from './pushed-requests.ts';
import type { RawQuery } from './validate-authorization-request.ts';

export type Deps = {
  pushed: PushedRequests;
  store: Pick<AuthorizeStore, 'claimPushedRequest'>;
  clock: Clock;
};

export type PushedRequestOutcome =
  | { kind: 'not-pushed' }
  | { kind: 'show-error'; description: string }
  /** The one use could not be recorded (the database away, or its answer lost): neither taken nor refused. */
  | { kind: 'unavailable'; error: unknown }
  | { kind: 'pushed'; params: PushedParams };

export async function takePushedRequest(deps: Deps, query: RawQuery): Promise<PushedRequestOutcome> {
  const requestUri = query.request_uri;
  if (requestUri === undefined) return { kind: 'not-pushed' };
  const clientId = query.client_id;
  if (typeof clientId !== 'string' || clientId === '') return showError('The request does not name a client, or names more than one.');
  if (typeof requestUri !== 'string' || !requestUri.startsWith(REQUEST_URI_PREFIX)) return showError(UNUSABLE);
  const opened = deps.pushed.open(requestUri.slice(REQUEST_URI_PREFIX.length));
  // Unknown, tampered and expired request URIs, and another client's, are refused alike.
  if (!opened || opened.expiresAt <= deps.clock.now() || opened.payload.clientId !== clientId) return showError(UNUSABLE);
  let claimed: boolean;
  try {
    claimed = await deps.store.claimPushedRequest(opened.payload.id, opened.expiresAt);
  } catch (error) {
    return { kind: 'unavailable', error };
  }
  if (!claimed) return showError(UNUSABLE);
  return { kind: 'pushed', params: opened.payload.params };
}

const UNUSABLE = 'The request_uri is unknown, expired, already used or was pushed by another client.';

const showError = (description: string): PushedRequestOutcome => ({ kind: 'show-error', description });
