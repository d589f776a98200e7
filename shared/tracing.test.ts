import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { ROOT_CONTEXT, trace } from '@opentelemetry/api';
import type { MsgHdrs } from '@nats-io/nats-core';
import { remoteParent, startChildSpan, startServerSpan, startTracing, tracingOn } from './tracing.ts';
import { requestWithRetries, type Requester } from './nats/request.ts';

describe('tracing off (no OTEL_EXPORTER_OTLP_ENDPOINT)', () => {
  it('makes no span and sends no traceparent on NATS', async () => {
    await startTracing('test', {});
    assert.equal(tracingOn(), false);
    assert.equal(startServerSpan('GET /x', {}, `00-${'a'.repeat(32)}-${'b'.repeat(16)}-01`), undefined);
    assert.equal(startChildSpan('find x', {}), undefined);
    let sent: MsgHdrs | undefined;
    const nc: Requester = {
      request: async (_subject, _payload, options) => {
        sent = options?.headers;
        return { data: new Uint8Array(), headers: undefined } as never;
      },
    };
    await requestWithRetries(nc, 'oauth.test', new Uint8Array(), { reqId: 'r1', timeoutMs: 1000 });
    assert.equal(sent?.get('Request-Id'), 'r1');
    assert.equal(sent?.has('traceparent'), false);
  });

  it('never loads the OpenTelemetry SDK, exporter or resources: the service modules import none of it', () => {
    // A fresh process records every module it resolves while loading them and starting tracing off.
    // (@opentelemetry/api itself is loaded by prom-client, for exemplars; it is a set of no-op objects.)
    const script = `
      import { registerHooks } from 'node:module';
      const loaded = [];
      registerHooks({ resolve(specifier, context, next) { const r = next(specifier, context); loaded.push(r.url); return r; } });
      for (const m of ['#shared/service-base.ts', '#shared/http/create-http-server.ts', '#shared/nats/request.ts', '#shared/nats/add-endpoint.ts', '#shared/mongo.ts']) await import(m);
      const { startTracing, tracingOn } = await import('#shared/tracing.ts');
      await startTracing('test', {});
      console.log(JSON.stringify({ on: tracingOn(), otel: loaded.filter((u) => u.includes('@opentelemetry') && !u.includes('@opentelemetry/api/')), count: loaded.length }));`;
    const run = spawnSync(process.execPath, ['--input-type=module', '-e', script], { cwd: new URL('..', import.meta.url), encoding: 'utf8' });
    assert.equal(run.status, 0, run.stderr);
    const result = JSON.parse(run.stdout) as { on: boolean; otel: string[]; count: number };
    assert.ok(result.count > 20, 'the hook saw the modules load');
    assert.deepEqual(result, { on: false, otel: [], count: result.count });
  });
});

describe('remoteParent (W3C traceparent)', () => {
  const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
  const spanId = '00f067aa0ba902b7';
  const parent = (header: string | undefined) => trace.getSpanContext(remoteParent({ ROOT_CONTEXT, trace }, header));

  it('takes a valid version-00 header as a remote, sampled or not, parent', () => {
    assert.deepEqual(parent(`00-${traceId}-${spanId}-01`), { traceId, spanId, traceFlags: 1, isRemote: true });
    assert.equal(parent(`00-${traceId}-${spanId}-00`)?.traceFlags, 0);
    assert.equal(parent(`01-${traceId}-${spanId}-01-future`)?.traceId, traceId, 'a later version may add fields');
  });

  it('starts a new trace for anything else, never throwing', () => {
    for (const header of [
      undefined, '', 'garbage', `ff-${traceId}-${spanId}-01`, `00-${traceId}-${spanId}-01-extra`, `00-${'0'.repeat(32)}-${spanId}-01`,
      `00-${traceId}-${'0'.repeat(16)}-01`, `00-${traceId.toUpperCase()}-${spanId}-01`, `00-${traceId}-${spanId}`, `00-${traceId}-${spanId}-01${'x'.repeat(300)}`,
    ]) assert.equal(parent(header), undefined, String(header));
  });
});
