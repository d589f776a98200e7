import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Logger } from '#shared/logger.ts';
import { startedService } from './service-base.ts';

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
