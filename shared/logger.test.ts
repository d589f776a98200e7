import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { createLogger, redactSecrets } from './logger.ts';

/** A logger at debug whose lines are kept, parsed. */
function capture() {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString('utf8').split('\n').filter(Boolean)) lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  return { lines, log: createLogger('test-service', 'debug', stream) };
}

describe('logger', () => {
  it('names the service and the process in every line (instances of one service share `npm start`’s output)', () => {
    const { lines, log } = capture();
    log.info('one');
    log.child({ reqId: 'r1' }).warn('two');
    assert.deepEqual(lines.map((line) => [line.service, line.pid]), [['test-service', process.pid], ['test-service', process.pid]]);
  });

  it('censors every secret key at any depth, in arrays, errors and child bindings, and keeps the rest', () => {
    const { lines, log } = capture();
    const request = {
      client_id: 'c1', refresh_token: 'rt-secret', nested: { password: 'pw-secret', deeper: { list: [{ token: 'tok-secret', kept: 1 }] } },
      rawHeaders: { Authorization: 'Bearer upper-secret' },
      headers: { authorization: 'Basic secret', cookie: 'session=secret', 'set-cookie': ['a=secret'], accept: 'application/json' },
      form: { code: 'code-secret', code_verifier: 'verifier-secret', client_secret: 'cs-secret', access_token: 'at-secret', handle: 'h-secret', _csrf: 'csrf-secret' },
      at: { a: { b: { c: { d: { e: { password: 'deep-secret' } } } } } },
    };
    const failure = Object.assign(new Error('insert failed'), { code: 11000, keyValue: { token: 'err-secret' } });
    log.child({ reqId: 'r1', password: 'binding-secret' }).warn({ request, failure, when: new Date(0) }, 'refused');
    log.error(Object.assign(new Error('boom'), { refresh_token: 'err-top-secret' }));

    const text = JSON.stringify(lines);
    for (const secret of ['rt-secret', 'pw-secret', 'tok-secret', 'Basic secret', 'session=secret', 'a=secret', 'code-secret', 'verifier-secret',
      'cs-secret', 'at-secret', 'h-secret', 'csrf-secret', 'deep-secret', 'err-secret', 'binding-secret', 'err-top-secret', 'upper-secret']) {
      assert.ok(!text.includes(secret), `${secret} is not written`);
    }
    const [warned, errored] = lines as [Record<string, any>, Record<string, any>]; // eslint-disable-line @typescript-eslint/no-explicit-any
    assert.equal(warned.reqId, 'r1');
    assert.equal(warned.password, '[redacted]');
    assert.equal(warned.request.client_id, 'c1');
    assert.equal(warned.request.headers.accept, 'application/json');
    assert.equal(warned.request.headers.authorization, '[redacted]');
    assert.deepEqual(warned.request.nested.deeper.list, [{ token: '[redacted]', kept: 1 }]);
    assert.equal(warned.request.at.a.b.c.d.e.password, '[redacted]');
    assert.equal(warned.when, '1970-01-01T00:00:00.000Z');
    assert.equal(warned.failure.type, 'Error');
    assert.equal(warned.failure.message, 'insert failed');
    assert.match(warned.failure.stack, /insert failed/);
    assert.deepEqual(warned.failure.keyValue, { token: '[redacted]' });
    assert.equal(errored.msg, 'boom');
    assert.equal(errored.err.type, 'Error');
    assert.equal(errored.err.refresh_token, '[redacted]');
    assert.equal(request.refresh_token, 'rt-secret', 'the logged object is not changed');
    assert.equal(request.nested.deeper.list[0]!.token, 'tok-secret');
  });

  it('censors secrets in errors inside errors, in class instances and in circular objects, and cuts what is nested too deep', () => {
    const { lines, log } = capture();
    class Attempt {
      token = 'class-secret';
      kept = 'visible';
    }
    const inner = Object.assign(new Error('inner'), { token: 'inner-secret' });
    const outer = Object.assign(new Error('outer'), { inner });
    const many = new AggregateError([Object.assign(new Error('one'), { password: 'aggregate-secret' })], 'several');
    const loop: Record<string, unknown> = { token: 'loop-secret', name: 'loop' };
    loop.self = loop;
    let deep: Record<string, unknown> = { password: 'too-deep-secret' };
    for (let i = 0; i < 12; i++) deep = { next: deep };
    log.error({ err: outer, many, attempt: new Attempt(), loop, deep }, 'failed');

    const text = JSON.stringify(lines);
    for (const secret of ['inner-secret', 'aggregate-secret', 'class-secret', 'loop-secret', 'too-deep-secret']) {
      assert.ok(!text.includes(secret), `${secret} is not written`);
    }
    const line = lines[0] as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
    assert.equal(line.err.type, 'Error');
    assert.equal(line.err.inner.message, 'inner');
    assert.equal(line.err.inner.token, '[redacted]');
    assert.equal(line.many.aggregateErrors[0].password, '[redacted]');
    assert.deepEqual(line.attempt, { token: '[redacted]', kept: 'visible' });
    assert.deepEqual(line.loop, { token: '[redacted]', name: 'loop', self: '[circular]' });
    assert.match(text, /\[too deep\]/);
  });

  it('returns an object without secrets as it is, and shares the parts of one with a secret that hold none', () => {
    const clean = { method: 'POST', route: '/token', status: 200, ms: 3, list: [1, 2] };
    assert.equal(redactSecrets(clean), clean);
    const mixed = { a: { b: 1 }, c: { token: 't' } };
    const redacted = redactSecrets(mixed) as typeof mixed;
    assert.notEqual(redacted, mixed);
    assert.equal(redacted.a, mixed.a);
    assert.deepEqual(redacted.c, { token: '[redacted]' });
  });

  it('never writes the query string of a logged request', () => {
    const { lines, log } = capture();
    log.info({ req: { id: 'r2', method: 'GET', url: '/authorize?code=abc&state=xyz', headers: { authorization: 'Basic req-secret' } } }, 'request');
    assert.deepEqual(lines[0]!.req, { id: 'r2', method: 'GET', path: '/authorize' });
  });
});
