import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { coalesced } from './coalesced.ts';

/** A piece of work whose runs finish only when the test says so. */
function gatedWork(outcomes: ('ok' | 'fail')[] = []) {
  const gates: (() => void)[] = [];
  let runs = 0;
  const work = () => {
    const outcome = outcomes[runs++] ?? 'ok';
    return new Promise<void>((resolve, reject) => gates.push(() => (outcome === 'ok' ? resolve() : reject(new Error(`run ${runs} failed`)))));
  };
  const finishNext = async () => {
    await new Promise((r) => setImmediate(r));
    gates.shift()?.();
    await new Promise((r) => setImmediate(r));
  };
  return { work, finishNext, runs: () => runs };
}

describe('coalesced', () => {
  it('folds a flood of calls during a run into one more run after it', async () => {
    const gated = gatedWork();
    const reload = coalesced(gated.work);
    const calls = Array.from({ length: 500 }, () => reload());
    assert.equal(gated.runs(), 1);
    await gated.finishNext();
    assert.equal(gated.runs(), 2, 'one more run for what was announced during the first');
    await gated.finishNext();
    await Promise.all(calls);
    assert.equal(gated.runs(), 2);
  });

  it('runs again for a call after the last run finished', async () => {
    const gated = gatedWork();
    const reload = coalesced(gated.work);
    const first = reload();
    await gated.finishNext();
    await first;
    const second = reload();
    await gated.finishNext();
    await second;
    assert.equal(gated.runs(), 2);
  });

  it('a failed run is not the end when another was asked for; the last run decides the outcome', async () => {
    const gated = gatedWork(['fail', 'ok', 'fail']);
    const reload = coalesced(gated.work);
    const first = reload();
    void reload();
    await gated.finishNext();
    await gated.finishNext();
    await first;
    assert.equal(gated.runs(), 2);
    const third = assert.rejects(reload(), /run 3 failed/);
    await gated.finishNext();
    await third;
  });
});
