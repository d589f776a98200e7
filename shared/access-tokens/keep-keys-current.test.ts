import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { keepKeysCurrent, type KeepKeysCurrentDeps } from './keep-keys-current.ts';

/** Hand-written deps: the announcement and the timer are fired by the test. */
function harness(options: { failLoads?: number } = {}) {
  const calls: string[] = [];
  let announce: (() => void) | undefined;
  let tick: (() => void) | undefined;
  let failLoads = options.failLoads ?? 0;
  const warnings: unknown[] = [];
  const deps: KeepKeysCurrentDeps = {
    onKeysChanged: (onChange) => {
      calls.push('subscribe');
      announce = onChange;
      return () => { calls.push('unsubscribe'); announce = undefined; };
    },
    every: (intervalMs, task) => {
      calls.push(`every ${intervalMs}`);
      tick = task;
      return () => { calls.push('cancel'); tick = undefined; };
    },
    reload: async () => {
      calls.push('reload');
      if (failLoads > 0) {
        failLoads--;
        throw new Error('database away');
      }
    },
    log: { warn: (obj: unknown) => void warnings.push(obj) },
    intervalMs: 60_000,
  };
  return { deps, calls, warnings, announce: () => announce?.(), tick: () => tick?.() };
}

const settle = () => new Promise((resolve) => setImmediate(resolve));

describe('keepKeysCurrent', () => {
  it('subscribes before the first load, so an announcement made meanwhile is not missed', async () => {
    const h = harness();
    await keepKeysCurrent(h.deps);
    assert.deepEqual(h.calls, ['subscribe', 'reload', 'every 60000']);
  });

  it('reloads on every announcement and every tick, and stops both on stop', async () => {
    const h = harness();
    const running = await keepKeysCurrent(h.deps);
    h.announce();
    h.tick();
    await settle();
    assert.deepEqual(h.calls.slice(3), ['reload', 'reload']);
    running.stop();
    assert.deepEqual(h.calls.slice(5), ['cancel', 'unsubscribe']);
    h.announce();
    h.tick();
    assert.equal(h.calls.length, 7, 'nothing after stop');
  });

  it('throws when the first load fails, leaving nothing subscribed', async () => {
    const h = harness({ failLoads: 1 });
    await assert.rejects(keepKeysCurrent(h.deps), /database away/);
    assert.deepEqual(h.calls, ['subscribe', 'reload', 'unsubscribe']);
  });

  it('logs a later failed reload and keeps going', async () => {
    const h = harness();
    await keepKeysCurrent(h.deps);
    h.deps.reload = async () => { throw new Error('database away'); };
    h.announce();
    await settle();
    assert.equal(h.warnings.length, 1);
  });
});
