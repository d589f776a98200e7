import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { RecentReads } from './recent-reads.ts';

function harness(options: { maxAgeMs?: number; maxEntries?: number } = {}) {
  let nowMs = 0;
  const reads: string[] = [];
  const cache = new RecentReads<string>({ maxAgeMs: options.maxAgeMs ?? 2000, maxEntries: options.maxEntries ?? 10, nowMs: () => nowMs });
  const read = (key: string, value: string | null = `v-${key}`) => cache.get(key, async () => {
    reads.push(key);
    return value;
  });
  return { cache, reads, read, advance: (ms: number) => { nowMs += ms; } };
}

describe('RecentReads', () => {
  it('reuses a read within its age, and reads again after it', async () => {
    const h = harness();
    assert.equal(await h.read('a'), 'v-a');
    h.advance(1999);
    assert.equal(await h.read('a'), 'v-a');
    assert.deepEqual(h.reads, ['a']);
    h.advance(1);
    await h.read('a');
    assert.deepEqual(h.reads, ['a', 'a']);
  });

  it('remembers that nothing was found, like any other answer', async () => {
    const h = harness();
    assert.equal(await h.read('gone', null), null);
    assert.equal(await h.read('gone', 'late'), null);
    assert.deepEqual(h.reads, ['gone']);
  });

  it('forgets a key at once (a change made here or announced by another instance)', async () => {
    const h = harness();
    await h.read('a');
    h.cache.forget('a');
    await h.read('a');
    assert.deepEqual(h.reads, ['a', 'a']);
  });

  it('shares one read among concurrent callers', async () => {
    const h = harness();
    await Promise.all([h.read('a'), h.read('a'), h.read('a')]);
    assert.deepEqual(h.reads, ['a']);
  });

  it('does not remember a failed read', async () => {
    const h = harness();
    await assert.rejects(h.cache.get('a', async () => { throw new Error('database down'); }));
    assert.equal(await h.read('a'), 'v-a');
  });

  it('keeps at most maxEntries, dropping the oldest; with an age or size of 0 it always reads', async () => {
    const h = harness({ maxEntries: 2 });
    await h.read('a');
    await h.read('b');
    await h.read('c');
    await h.read('a');
    assert.deepEqual(h.reads, ['a', 'b', 'c', 'a']);
    const off = harness({ maxAgeMs: 0 });
    await off.read('a');
    await off.read('a');
    assert.deepEqual(off.reads, ['a', 'a']);
  });
});
