import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Type } from '@sinclair/typebox';
import type { Service, ServiceMsg } from '@nats-io/services';
import { checker } from '#shared/contracts/checker.ts';
import { createLogger } from '#shared/logger.ts';
import { addEndpoint, inFlight, MAX_REQUEST_BYTES, type EndpointContext } from './add-endpoint.ts';
import { REQUEST_ID } from './headers.ts';

type Answer = { kind: 'reply'; body: unknown } | { kind: 'error'; code: number; description: string; body: unknown } | { kind: 'none' };

/** One endpoint registered on a stand-in Service; `ask` delivers a message and resolves with its answer. */
function endpoint(
  handle: (request: { token: string }, context: EndpointContext) => Promise<unknown>, parse?: (value: unknown) => unknown, log = createLogger('test', 'silent'),
) {
  let handler: ((error: Error | null, msg: ServiceMsg) => void) | undefined;
  const service = { addEndpoint: (_name: string, options: { handler: typeof handler }) => void (handler = options.handler) } as unknown as Service;
  const request = checker(Type.Object({ token: Type.String({ maxLength: 8192 }) }));
  addEndpoint(service, log, {
    name: 'validate', subject: 'test.validate', schemaName: 'test.validate/1',
    request: parse ? { schema: request.schema, parse: parse as typeof request.parse } : request,
    invalidRequestReply: { active: false, allowed: false, error: 'invalid_request' },
    handle,
  });
  /** `reply` null: a message without a reply subject. */
  const ask = (data: Uint8Array, headers: () => unknown = () => undefined, reply: string | null = '_INBOX.resource-server.abc.1') =>
    new Promise<Answer>((resolve) => {
    const msg = {
      data,
      reply: reply ?? undefined,
      get headers() { return headers(); },
      respond: (body: Uint8Array) => resolve({ kind: 'reply', body: JSON.parse(Buffer.from(body).toString()) }),
      respondError: (code: number, description: string, body?: Uint8Array) =>
        resolve({ kind: 'error', code, description, body: body ? JSON.parse(Buffer.from(body).toString()) : undefined }),
    } as unknown as ServiceMsg;
    handler!(null, msg);
    setTimeout(() => resolve({ kind: 'none' }), 200);
  });
  return { ask, service };
}

const json = (value: unknown) => Buffer.from(JSON.stringify(value));

describe('addEndpoint', () => {
  // Security finding 3: a resource server named any reply subject (oauth.audit.…) and the answer was published there.
  it('finding 3: answers only reply subjects under an inbox, and does not even handle a request with another', async () => {
    let handled = 0;
    const { ask } = endpoint(async ({ token }) => { handled++; return { token }; });
    for (const reply of ['oauth.audit.token.issued', 'oauth.revocation.recorded', 'oauth.reference_data.changed', '_INBOX.', 'x._INBOX.a', null]) {
      assert.deepEqual(await ask(json({ token: 'x' }), undefined, reply), { kind: 'none' }, String(reply));
      assert.deepEqual(await ask(Buffer.from('not json'), undefined, reply), { kind: 'none' }, `${String(reply)}, malformed`);
    }
    assert.equal(handled, 0);
    assert.deepEqual(await ask(json({ token: 'x' }), undefined, '_INBOX.resource-server.k3.7'), { kind: 'reply', body: { token: 'x' } });
  });

  it('gives the handler the caller\'s request id, or a new one, and a logger whose lines carry it and the subject', async () => {
    const lines: Record<string, unknown>[] = [];
    const log = createLogger('test', 'info', { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) });
    const ids: string[] = [];
    const { ask } = endpoint(async ({ token }, context) => {
      ids.push(context.reqId);
      context.log.info({ token: token.length }, 'handled');
      return {};
    }, undefined, log);
    const caller = 'rs-7f3a9c';
    const withId = { get: (name: string) => (name === REQUEST_ID ? caller : '') };
    await ask(json({ token: 'x' }), () => withId);
    await ask(json({ token: 'x' }));
    await ask(json({ token: 'x' }));
    assert.equal(ids[0], caller, 'the caller\'s id, as sent');
    assert.match(ids[1]!, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/, 'a new one for a caller that sent none');
    assert.notEqual(ids[1], ids[2], 'one per message');
    assert.deepEqual(lines.filter((l) => l.msg === 'handled').map((l) => [l.reqId, l.subject]), ids.map((id) => [id, 'test.validate']));
  });

  it('counts a request in flight until it is answered, so that a stopping service waits for it, failed ones included', { timeout: 5000 }, async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const { ask, service } = endpoint(async ({ token }) => {
      await gate;
      if (token === 'fail') throw new Error('unforeseen');
      return {};
    }, (value) => value);
    const tracker = inFlight(service);
    const answers = [ask(json({ token: 'x' })), ask(json({ token: 'fail' }))];
    assert.equal(tracker.size, 2);
    let idle = false;
    const waited = tracker.idle().then(() => (idle = true));
    await new Promise((resolve) => setTimeout(resolve, 20));
    assert.equal(idle, false, 'not idle while requests are being handled');
    release();
    const [ok, failed] = await Promise.all(answers);
    await waited;
    assert.equal(tracker.size, 0);
    assert.equal(ok!.kind, 'reply');
    assert.equal(failed!.kind, 'error', 'a handler that throws is still answered');
  });

  it('refuses a request over MAX_REQUEST_BYTES with 400 invalid_request, without parsing it', async () => {
    let parsed = 0;
    const { ask } = endpoint(async () => ({ ok: true }), (value) => { parsed++; return value; });
    const answer = await ask(Buffer.alloc(MAX_REQUEST_BYTES + 1, 0x20));
    assert.deepEqual(answer, { kind: 'error', code: 400, description: 'invalid_request', body: { active: false, allowed: false, error: 'invalid_request' } });
    assert.equal(parsed, 0, 'an oversized payload is never parsed');
    assert.equal((await ask(json({ token: 'x' }))).kind, 'reply', 'a request within the limit is served');
  });

  it('answers a message whose header block the client library cannot decode, as if it had no headers', async () => {
    const { ask } = endpoint(async ({ token }) => ({ token }));
    // What @nats-io/nats-core throws for a header name with a space in it.
    const answer = await ask(json({ token: 'x' }), () => { throw new Error("'header' ' ' is not a valid character in a header name"); });
    assert.deepEqual(answer, { kind: 'reply', body: { token: 'x' } });
  });

  it('still answers (500) when something it did not foresee throws before the handler', async () => {
    const { ask } = endpoint(async () => ({}), () => { throw new Error('schema check blew up'); });
    const answer = await ask(json({ token: 'x' }));
    assert.equal(answer.kind, 'error');
    assert.equal((answer as { code: number }).code, 500);
  });

  it('refuses invalid UTF-8, invalid JSON, an empty payload and a schema mismatch with the endpoint\'s invalid_request reply', async () => {
    const { ask } = endpoint(async () => ({}));
    for (const data of [Buffer.from([0x7b, 0xff, 0x7d]), Buffer.from('{"token":'), Buffer.alloc(0), json({ token: 1 }), Buffer.from('['.repeat(30_000))]) {
      assert.deepEqual(await ask(data), { kind: 'error', code: 400, description: 'invalid_request', body: { active: false, allowed: false, error: 'invalid_request' } });
    }
  });
});
