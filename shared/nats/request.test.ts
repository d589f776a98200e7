// natsRequest over a fake requester and a fake clock: which failures are retried, within which deadline.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { NoRespondersError, RequestError, TimeoutError, headers as natsHeaders, type Msg, type MsgHdrs } from '@nats-io/nats-core';
import { Type } from '@sinclair/typebox';
import { checker } from '#shared/contracts/checker.ts';
import { isOAuthError } from '#shared/oauth-error.ts';
import { REQUEST_DEADLINE } from './headers.ts';
import { linkRenewedNow, MIN_ATTEMPT_MS, natsRequest, type Requester } from './request.ts';

const reply = checker(Type.Object({ ok: Type.Boolean() }));
const encoder = new TextEncoder();

type Step = 'no-responders' | 'timeout' | 'hang' | { body: unknown; serviceError?: string };
type Sent = { at: number; timeout: number; deadline: string | undefined };

/** A requester answering attempt i with steps[i], on a clock that moves only by the pauses and timeouts. */
function fake(steps: Step[]) {
  let clock = 1_000_000;
  const sent: Sent[] = [];
  const pauses: number[] = [];
  const requester: Requester = {
    request: async (_subject: string, _payload?: unknown, options?: { timeout: number; headers?: MsgHdrs }) => {
      const step = steps[sent.length] ?? 'no-responders';
      sent.push({ at: clock, timeout: options!.timeout, deadline: options!.headers?.get(REQUEST_DEADLINE) });
      if (step === 'no-responders') throw new RequestError('no responders', { cause: new NoRespondersError('test.subject') });
      if (step === 'timeout') {
        clock += options!.timeout;
        throw new RequestError('timeout', { cause: new TimeoutError() });
      }
      if (step === 'hang') return new Promise<Msg>(() => undefined);
      const h = natsHeaders();
      if (step.serviceError) h.set('Nats-Service-Error', step.serviceError);
      return { data: encoder.encode(JSON.stringify(step.body)), headers: step.serviceError ? h : undefined } as unknown as Msg;
    },
  };
  const options = (timeoutMs: number) => ({
    reqId: 'r1', timeoutMs, now: () => clock,
    sleep: async (ms: number) => {
      pauses.push(ms);
      clock += ms;
    },
  });
  return { requester, sent, pauses, options, advance: (ms: number) => (clock += ms) };
}

describe('natsRequest retries', () => {
  it('retries "no responders" with a short backoff and returns the first answer, every attempt under the one deadline', async () => {
    const f = fake(['no-responders', 'no-responders', { body: { ok: true } }]);
    assert.deepEqual(await natsRequest(f.requester, 'test.subject', {}, reply, f.options(1000)), { ok: true });
    assert.equal(f.sent.length, 3);
    assert.equal(new Set(f.sent.map((s) => s.deadline)).size, 1, 'one Request-Deadline for every attempt');
    assert.equal(f.sent[0]!.deadline, String(1_000_000 + 1000));
    for (const pause of f.pauses) assert.ok(pause > 0 && pause <= 250, `pause ${pause}`);
    // Each attempt waits half the deadline at most, and never beyond it.
    for (const s of f.sent) assert.equal(s.timeout, Math.min(500, 1_000_000 + 1000 - s.at));
  });

  it('gives up with temporarily_unavailable (503) when nobody answers before the deadline', async () => {
    const f = fake([]);
    const error = await natsRequest(f.requester, 'test.subject', {}, reply, f.options(600)).catch((e: unknown) => e);
    assert.ok(isOAuthError(error));
    assert.equal(error.code, 'temporarily_unavailable');
    assert.equal(error.status, 503);
    assert.ok(f.sent.length > 2, `${f.sent.length} attempts`);
    assert.ok(f.sent.at(-1)!.at <= 1_000_000 + 600 - MIN_ATTEMPT_MS, 'no attempt too late to be answered');
  });

  it('sends again an attempt unanswered within half the deadline (its responder may have died with its node)', async () => {
    const f = fake(['timeout', { body: { ok: true } }]);
    assert.deepEqual(await natsRequest(f.requester, 'test.subject', {}, reply, f.options(800)), { ok: true });
    assert.equal(f.sent.length, 2);
    assert.equal(f.sent[0]!.timeout, 400);
    assert.ok(f.sent[1]!.timeout <= 800 - 400 - f.pauses[0]!, 'the second attempt ends by the deadline');
  });

  it('is temporarily_unavailable at the deadline when every attempt times out', async () => {
    const f = fake(['timeout', 'timeout', 'timeout']);
    const error = await natsRequest(f.requester, 'test.subject', {}, reply, f.options(800)).catch((e: unknown) => e);
    assert.ok(isOAuthError(error) && error.code === 'temporarily_unavailable');
    assert.ok(f.sent.length >= 2 && f.sent.length <= 3, `${f.sent.length} attempts`);
    assert.ok(f.sent.every((s) => s.at + s.timeout <= 1_000_000 + 800), 'no attempt outlives the deadline');
  });

  it('sends again an attempt begun before the link to NATS was lost and found again', async () => {
    const f = fake(['hang', { body: { ok: true } }]);
    const answer = natsRequest(f.requester, 'test.subject', {}, reply, f.options(2000));
    await new Promise((r) => setImmediate(r));
    f.advance(300);
    linkRenewedNow(f.requester);
    assert.deepEqual(await answer, { ok: true });
    assert.equal(f.sent.length, 2);
    assert.equal(f.sent[1]!.timeout, Math.min(1000, 2000 - 300 - f.pauses[0]!));
  });

  it('never retries a service answer, an error included: it is the OAuthError it was', async () => {
    const f = fake([{ body: { error: 'invalid_request', error_description: 'The request is invalid.' }, serviceError: 'invalid_request' }, { body: { ok: true } }]);
    const error = await natsRequest(f.requester, 'test.subject', {}, reply, f.options(1000)).catch((e: unknown) => e);
    assert.ok(isOAuthError(error));
    assert.equal(error.code, 'invalid_request');
    assert.equal(f.sent.length, 1);
  });
});
