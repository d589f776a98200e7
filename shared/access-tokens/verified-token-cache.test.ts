import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { VerifiedTokenCache } from './verified-token-cache.ts';

describe('VerifiedTokenCache', () => {
  it('never holds more than its bound, evicting the least recently used entry', () => {
    const cache = new VerifiedTokenCache<number>(3);
    cache.set('a', 1);
    cache.set('b', 2);
    cache.set('c', 3);
    assert.equal(cache.get('a'), 1); // a is now the most recently used
    cache.set('d', 4);
    assert.equal(cache.size, 3);
    assert.equal(cache.get('b'), undefined);
    assert.deepEqual([cache.get('a'), cache.get('c'), cache.get('d')], [1, 3, 4]);
  });

  it('holds nothing when its size is 0', () => {
    const cache = new VerifiedTokenCache<number>(0);
    cache.set('a', 1);
    assert.equal(cache.get('a'), undefined);
    assert.equal(cache.size, 0);
  });

  it('forgets a deleted entry', () => {
    const cache = new VerifiedTokenCache<number>(2);
    cache.set('a', 1);
    cache.delete('a');
    assert.equal(cache.get('a'), undefined);
  });
});
