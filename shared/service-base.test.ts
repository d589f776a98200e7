import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Logger } from '#shared/logger.ts';
import { startedService, startOnBase } from './service-base.ts';

describe('startedService', () => {
  it('closes NATS and MongoDB when a stop step fails, logs the step, stops once, and then fails', async () => {
    const steps: string[] = [];
    const warnings: string[] = [];
    const base = {
      log: { warn: (fields: { step: string }) => void warnings.push(fields.step) } as unknown as Logger,
      stopTakingRequests: async () => void steps.push('stop taking requests'),
      close: async () => void steps.push('close'),
    };
    const http = { close: async () => { throw new Error('a hook failed'); } };
    const cleanups = [() => void steps.push('sweep'), () => { throw new Error('connection closed'); }, () => void steps.push('reference')];
    const service = startedService(base, 8081, http, cleanups);
    const outcomes = await Promise.allSettled([service.stop(), service.stop()]);
    assert.deepEqual(steps, ['stop taking requests', 'sweep', 'reference', 'close']);
    assert.deepEqual(warnings, ['close http', 'cleanup 2']);
    for (const outcome of outcomes) {
      assert.equal(outcome.status, 'rejected');
      assert.deepEqual((outcome.reason as AggregateError).errors.map((e: Error) => e.message), ['a hook failed', 'connection closed']);
    }
  });

  it('stops without an error when every step succeeds', async () => {
    const steps: string[] = [];
    const base = {
      log: { warn: () => assert.fail('nothing to warn about') } as unknown as Logger,
      stopTakingRequests: async () => void steps.push('stop taking requests'),
      close: async () => void steps.push('close'),
    };
    await startedService(base, 8081, { close: async () => void steps.push('http') }, [() => void steps.push('sweep')]).stop();
    assert.deepEqual(steps, ['stop taking requests', 'http', 'sweep', 'close']);
  });
});

describe('startOnBase', () => {
  const baseRecording = (steps: string[]) => ({
    log: { warn: () => void steps.push('warned') } as unknown as Logger,
    stopTakingRequests: async () => void steps.push('stop taking requests'),
    close: async () => void steps.push('close'),
  });

  it('when a step fails: takes no more requests, stops what had started (last first, a failing stop logged), closes the base, and fails with the error', async () => {
    const steps: string[] = [];
    const base = { ...baseRecording(steps), close: async () => { steps.push('close'); throw new Error('already closed'); } };
    const started = startOnBase(base, {}, async (onStop) => {
      onStop(() => void steps.push('reference'));
      onStop(() => { throw new Error('already closed'); });
      onStop(async () => void steps.push('revocations'));
      throw Object.assign(new Error('listen EADDRINUSE'), { code: 'EADDRINUSE' });
    });
    await assert.rejects(started, { code: 'EADDRINUSE' });
    assert.deepEqual(steps, ['stop taking requests', 'revocations', 'warned', 'reference', 'close', 'warned']);
  });

  it('when every step succeeds: serves on the port, and its stop stops the parts last first', async () => {
    const steps: string[] = [];
    const service = await startOnBase(baseRecording(steps), {}, async (onStop) => {
      onStop(() => void steps.push('reference'));
      onStop(() => void steps.push('sweep'));
      return { port: 8081, http: { close: async () => void steps.push('http') } };
    });
    assert.equal(service.port, 8081);
    assert.deepEqual(steps, []);
    await service.stop();
    assert.deepEqual(steps, ['stop taking requests', 'http', 'sweep', 'reference', 'close']);
  });
});
