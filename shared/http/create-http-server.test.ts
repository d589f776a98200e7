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

// Security finding 8: TRUST_PROXY=true (in the image and docker-compose) trusted every
// X-Forwarded-For hop, so behind a proxy that appends, a client chose its own sign-in throttle key.
describe('finding 8: TRUST_PROXY never trusts a client-supplied X-Forwarded-For entry', () => {
  async function ipSeen(trustProxy: string | undefined, forwardedFor: string | undefined, remoteAddress = '127.0.0.1'): Promise<string> {
    const server = createHttpServer({ log: createLogger('test', 'silent'), metrics: createMetrics('test'), ready: async () => ({ ok: true }), trustProxy });
    server.get('/ip', async (request) => ({ ip: request.ip }));
    try {
      const res = await server.inject({ url: '/ip', remoteAddress, headers: forwardedFor === undefined ? {} : { 'x-forwarded-for': forwardedFor } });
      return (res.json() as { ip: string }).ip;
    } finally {
      await server.close();
    }
  }

  it('with a hop count of 1, sees the address the proxy appended, whatever the client put before it', async () => {
    assert.equal(await ipSeen('1', '203.0.113.9'), '203.0.113.9');
    assert.equal(await ipSeen('1', '198.51.100.66, 203.0.113.9'), '203.0.113.9', 'a forged first entry changes nothing');
    assert.equal(await ipSeen('1', '198.51.100.66,198.51.100.67, 203.0.113.9'), '203.0.113.9');
    assert.equal(await ipSeen('2', '198.51.100.66, 203.0.113.9, 10.0.0.2'), '203.0.113.9', 'two proxies: the entry the outer one appended');
  });

  it('with proxy addresses, believes X-Forwarded-For only from them, and only up to the first address not among them', async () => {
    assert.equal(await ipSeen('10.0.0.0/8,127.0.0.1', '198.51.100.66, 203.0.113.9, 10.1.2.3'), '203.0.113.9');
    assert.equal(await ipSeen('10.0.0.0/8', '203.0.113.9', '127.0.0.1'), '127.0.0.1', 'a peer not listed is the client');
  });

  it('off (unset, false or 0): the peer address, X-Forwarded-For ignored', async () => {
    for (const setting of [undefined, 'false', '0']) assert.equal(await ipSeen(setting, '198.51.100.66'), '127.0.0.1', String(setting));
  });

  it('refuses true at start', () => {
    const options = { log: createLogger('test', 'silent'), metrics: createMetrics('test'), ready: async () => ({ ok: true }), trustProxy: 'true' };
    assert.throws(() => createHttpServer(options), /TRUST_PROXY/);
  });
});
