// Typed NATS request with a deadline: a timeout or an absent service is temporarily_unavailable
// (HTTP 503) to the caller, never a hang; a service error comes back as the OAuthError it was.
//
// Within its deadline a request is retried when no instance took it: "no responders" (every
// instance restarting, or the subject's interest not yet back after a node failure), or an
// attempt sent before the link to NATS was lost and found again (its request or reply presumed
// lost with the old link), or an attempt unanswered within half the deadline (the instance that
// took it may have died with its NATS node, while this side's link stayed up, so nothing else
// would tell). Every internal request may be sent twice: describe reads only, decide
// is one decision per request by unique insert (a retry gets the same outcome), consent revoke
// is idempotent, and a push writes nothing (a second one seals a request_uri nobody is given, and
// is audited as pushed once more). A service's own answer, an error included, is never retried.
import { NoRespondersError, RequestError, TimeoutError, type Msg, type MsgHdrs, type NatsConnection } from '@nats-io/nats-core';
import type { TSchema, Static } from '@sinclair/typebox';
import type { Checker } from '#shared/contracts/checker.ts';
import { OAuthError, OAuthErrorCodes, unavailable, type OAuthErrorCode } from '#shared/oauth-error.ts';
import { parseJson } from './add-endpoint.ts';
import { requestHeaders, TRACEPARENT } from './headers.ts';
import { endSpan, startChildSpan, traceparentOf, type Span } from '#shared/tracing.ts';

const encoder = new TextEncoder();

/** What natsRequest needs of a connection (a fake one in unit tests). */
export type Requester = Pick<NatsConnection, 'request'>;

export type RequestOptions = {
  reqId: string;
  timeoutMs: number;
  /** For tests: the clock and the pause between attempts. */
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
};

/** The shortest attempt worth making: with less time left than this after a pause, the request fails. */
export const MIN_ATTEMPT_MS = 50;
const FIRST_BACKOFF_MS = 20;
const MAX_BACKOFF_MS = 250;

export async function natsRequest<S extends TSchema>(
  nc: Requester,
  subject: string,
  body: unknown,
  reply: Checker<S>,
  options: RequestOptions,
): Promise<Static<S>> {
  const msg = await requestWithRetries(nc, subject, encoder.encode(JSON.stringify(body)), options);
  const parsed = parseJson(msg.data);
  const serviceError = msg.headers?.get('Nats-Service-Error');
  if (serviceError) {
    const code = (parsed as { error?: string } | undefined)?.error;
    const description = (parsed as { error_description?: string } | undefined)?.error_description;
    if (code && code in OAuthErrorCodes && typeof description === 'string') {
      throw new OAuthError(code as OAuthErrorCode, description, `${subject} answered ${code}`);
    }
    throw new OAuthError('server_error', 'The server could not complete the request.', `${subject} answered ${serviceError}`);
  }
  const value = reply.parse(parsed);
  if (value === undefined) throw new OAuthError('server_error', 'The server could not complete the request.', `${subject} sent a reply that does not match its schema`);
  return value;
}

/**
 * The reply, from the first attempt some instance answered before the deadline; else
 * temporarily_unavailable. Within traced work, the whole exchange (retries included) is one client
 * span, whose traceparent every attempt carries.
 */
export async function requestWithRetries(nc: Requester, subject: string, payload: Uint8Array, options: RequestOptions): Promise<Msg> {
  const span = startChildSpan(`send ${subject}`, { 'messaging.system': 'nats', 'messaging.destination.name': subject, 'messaging.operation.type': 'send' });
  try {
    const msg = await attemptUntilDeadline(nc, subject, payload, options, span);
    endSpan(span);
    return msg;
  } catch (error) {
    endSpan(span, undefined, true);
    throw error;
  }
}

async function attemptUntilDeadline(nc: Requester, subject: string, payload: Uint8Array, options: RequestOptions, span: Span | undefined): Promise<Msg> {
  const now = options.now ?? Date.now;
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  const deadline = now() + options.timeoutMs;
  const attemptBudget = Math.max(MIN_ATTEMPT_MS, Math.ceil(options.timeoutMs / 2));
  const headers: MsgHdrs = requestHeaders(options.reqId, deadline);
  if (span) headers.set(TRACEPARENT, traceparentOf(span));
  for (let attempt = 0; ; attempt++) {
    const outcome = await oneAttempt(nc, subject, payload, headers, Math.min(attemptBudget, deadline - now()));
    if ('msg' in outcome) return outcome.msg;
    const pause = outcome.retry ? backoff(attempt) : 0;
    if (!outcome.retry || deadline - now() - pause < MIN_ATTEMPT_MS) {
      throw unavailable(`nats request to ${subject} failed after ${attempt + 1} attempt(s): ${outcome.error.message}`);
    }
    await sleep(pause);
  }
}

type Attempt = { msg: Msg } | { error: Error; retry: boolean };

async function oneAttempt(nc: Requester, subject: string, payload: Uint8Array, headers: MsgHdrs, timeoutMs: number): Promise<Attempt> {
  const request = nc.request(subject, payload, { timeout: timeoutMs, headers })
    .then((msg): Attempt => ({ msg }), (error: Error): Attempt => ({ error, retry: isNoResponders(error) || isTimeout(error) }));
  const reconnect = linkRenewed(nc);
  const outcome = await Promise.race([request, reconnect.promise]);
  reconnect.cancel();
  // The abandoned attempt may still end (answered or timed out): nothing waits for it.
  return outcome ?? { error: new Error('the link to NATS was lost and found again during the request'), retry: true };
}

/** Exponential with full jitter: 20, 40, 80, 160, 250, 250… ms at most. */
export function backoff(attempt: number): number {
  const ceiling = Math.min(MAX_BACKOFF_MS, FIRST_BACKOFF_MS * 2 ** attempt);
  return Math.ceil(ceiling / 2 + Math.random() * (ceiling / 2));
}

export const isNoResponders = (error: unknown): boolean =>
  error instanceof NoRespondersError || (error instanceof RequestError && error.isNoResponders())
  || (error instanceof Error && error.cause instanceof NoRespondersError);

const isTimeout = (error: unknown): boolean =>
  error instanceof TimeoutError || (error instanceof RequestError && error.cause instanceof TimeoutError)
  || (error instanceof Error && error.cause instanceof TimeoutError);

// Reconnects, per connection: connect.ts reports them (linkRenewedNow), attempts wait on them.
const waiters = new WeakMap<object, Set<() => void>>();

/** Called when `nc` has reconnected: every attempt begun before is sent again. */
export function linkRenewedNow(nc: object): void {
  const set = waiters.get(nc);
  if (!set) return;
  waiters.delete(nc);
  for (const wake of set) wake();
}

function linkRenewed(nc: object): { promise: Promise<undefined>; cancel(): void } {
  let set = waiters.get(nc);
  if (!set) waiters.set(nc, (set = new Set()));
  let wake!: () => void;
  const promise = new Promise<undefined>((resolve) => (wake = () => resolve(undefined)));
  set.add(wake);
  return { promise, cancel: () => void waiters.get(nc)?.delete(wake) };
}
