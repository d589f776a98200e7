// The access log: at the default LOG_LEVEL (info) every HTTP request writes one JSON line with its
// method, route, status, duration and request id, and never the query string (codes, state).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startSystem, type SeededClient, type SeededUser, type System } from './helpers/system.ts';
import { codeViaNats, exchangeCode } from './helpers/oauth.ts';

type LogLine = Record<string, unknown> & { msg?: string; reqId?: string };

describe('access log (LOG_LEVEL=info)', () => {
  let system: System;
  let client: SeededClient;
  let user: SeededUser;
  const lines: string[] = [];
  const completed = () => lines.map((l) => JSON.parse(l) as LogLine).filter((l) => l.msg === 'request completed');
  /** The access log lines of one request, found by the Request-Id its response carried. */
  const linesOf = (reqId: string | null) => completed().filter((l) => l.reqId === reqId);

  before(async () => {
    system = await startSystem('accesslog', {
      services: ['authorize-service', 'token-service'],
      env: { LOG_LEVEL: 'info' },
      logStream: { write: (line: string) => void lines.push(line) },
    });
    client = await system.seed.client({ scopes: [await system.seed.scope('logs')] });
    user = await system.seed.user();
  });
  after(async () => {
    await system?.stop();
  });

  it('writes one line per request: method, route pattern, status, ms and reqId, without the query string or the code', async () => {
    const { code, state, verifier, redirectTo } = await codeViaNats(system, client, user);
    const token = await exchangeCode(system, client, code, verifier);
    assert.equal(token.status, 200);
    const reqId = token.headers.get('request-id');
    assert.ok(reqId);
    const [line, ...more] = linesOf(reqId);
    assert.ok(line, 'the token request was logged');
    assert.equal(more.length, 0, 'exactly one line');
    assert.equal(line.level, 'info');
    assert.equal(line.service, 'token-service');
    assert.equal(line.method, 'POST');
    assert.equal(line.route, '/token');
    assert.equal(line.status, 200);
    assert.equal(typeof line.ms, 'number');
    const authorizeLines = completed().filter((l) => l.route === '/authorize');
    assert.equal(authorizeLines.length, 1, 'the authorization request was logged once');
    assert.equal(authorizeLines[0]!.status, 302);
    const all = lines.join('\n');
    for (const secret of [code, state, verifier, client.clientSecret!, redirectTo.search]) assert.ok(!all.includes(secret), 'no code, state, verifier or secret in any line');
    assert.ok(!all.includes('code_challenge'), 'no query string');
  });

  it('names the path of an unmatched request, without its query', async () => {
    const res = await fetch(`${system.urls.authorizeService}/nowhere/at-all?code=leaked-code-value&state=s1`);
    assert.equal(res.status, 404);
    const [line, ...more] = linesOf(res.headers.get('request-id'));
    assert.ok(line);
    assert.equal(more.length, 0);
    assert.equal(line.route, null);
    assert.equal(line.path, '/nowhere/at-all');
    assert.equal(line.status, 404);
    assert.ok(!lines.join('\n').includes('leaked-code-value'));
  });

  it('keeps health probes at debug, out of the info log', async () => {
    const res = await fetch(`${system.urls.authorizeService}/healthz`);
    assert.equal(res.status, 200);
    assert.deepEqual(linesOf(res.headers.get('request-id')), []);
  });
});
