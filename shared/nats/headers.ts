import { headers as natsHeaders, type MsgHdrs } from '@nats-io/nats-core';

// Our own headers never start with "Nats-".
export const REQUEST_ID = 'Request-Id';
export const REQUEST_DEADLINE = 'Request-Deadline';
/** W3C Trace Context, sent only while tracing is on (shared/tracing.ts). */
export const TRACEPARENT = 'traceparent';

export function requestHeaders(reqId: string, deadlineMs: number): MsgHdrs {
  const h = natsHeaders();
  h.set(REQUEST_ID, reqId);
  h.set(REQUEST_DEADLINE, String(deadlineMs));
  return h;
}

const REQUEST_ID_PATTERN = /^[A-Za-z0-9._:-]{1,128}$/;

/** A request id from a header, only when it is a plausible id (it ends up in logs). */
export function readRequestId(value: string | undefined | null): string | undefined {
  return value && REQUEST_ID_PATTERN.test(value) ? value : undefined;
}

export function readDeadline(h: MsgHdrs | undefined): number | undefined {
  const raw = h?.get(REQUEST_DEADLINE);
  const value = raw ? Number(raw) : NaN;
  return Number.isFinite(value) ? value : undefined;
}
