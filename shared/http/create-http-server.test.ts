import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { createLogger } from '#shared/logger.ts';
import { createMetrics } from '#shared/metrics.ts';
import { createHttpServer } from './create-http-server.ts';

let app: FastifyInstance;
let port: number;

before(async () => {
  app = createHttpServer({ log: createLogger('test', 'silent'), metrics: createMetrics('test'), ready: async () => ({ ok: true }) });
  await app.listen({ host: '127.0.0.1', port: 0 });
  port = (app.server.address() as { port: number }).port;
});
after(() => app.close());

/** Writes `bytes` as they are and reads until the server closes: status, headers, body. */
function raw(bytes: string): Promise<{ status: number; headers: string; body: string }> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port }, () => socket.write(Buffer.from(bytes, 'latin1')));
    let received = '';
    socket.on('data', (d: Buffer) => (received += d.toString('latin1')));
    socket.on('error', () => {});
    socket.on('close', () => {
      const [head = '', body = ''] = received.split('\r\n\r\n');
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1]);
      if (!status) reject(new Error(`no answer: ${JSON.stringify(received)}`));
      else resolve({ status, headers: head.toLowerCase(), body });
    });
    setTimeout(() => socket.destroy(), 3000);
  });
}

function assertPlainRefusal(res: { status: number; headers: string; body: string }, status: number): void {
  assert.equal(res.status, status, res.body);
  assert.match(res.headers, /content-type: application\/json/);
  const body = JSON.parse(res.body) as { error: string; error_description: string };
  assert.equal(body.error, 'invalid_request');
  assert.match(body.error_description, /^[\x20-\x7e]+$/);
}

describe('createHttpServer: requests refused before any route', () => {
  it('answers bytes the HTTP parser refuses with 400 invalid_request, not fastify\'s own body', async () => {
    assertPlainRefusal(await raw('GET /healthz\xff HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'), 400);
    assertPlainRefusal(await raw('FOO /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'), 400);
    assertPlainRefusal(await raw('GET /healthz HTTP/1.1\r\nHost: x\r\nbad header: 1\r\n\r\n'), 400);
  });

  it('answers headers over 16 KiB with 431 invalid_request', async () => {
    assertPlainRefusal(await raw(`GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(17 * 1024)}\r\n\r\n`), 431);
  });

  it('answers a malformed URL with 400 invalid_request that does not echo the path', async () => {
    const res = await raw('GET /%<script> HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    assertPlainRefusal(res, 400);
    assert.doesNotMatch(res.body, /<script|%/);
  });

  it('answers an HTTP/1.1 request without Host with 400 invalid_request (RFC 9112 §3.2), and an HTTP/1.0 one normally', async () => {
    assertPlainRefusal(await raw('GET /healthz HTTP/1.1\r\nConnection: close\r\n\r\n'), 400);
    assert.equal((await raw('GET /healthz HTTP/1.0\r\n\r\n')).status, 200);
  });

  it('answers an Expect it does not support with 417 and a JSON body', async () => {
    const res = await raw('GET /healthz HTTP/1.1\r\nHost: x\r\nExpect: teapot\r\nConnection: close\r\n\r\n');
    assertPlainRefusal(res, 417);
  });
});
