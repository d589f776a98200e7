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

  it('answers only the exact token: another with the same signature (a forged payload) is a miss, and cannot delete it', () => {
    const cache = new VerifiedTokenCache<string>(10);
    const genuine = 'eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJl';
    const forged = 'eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJtYWxsb3J5In0.c2lnbmF0dXJl';
    cache.set(genuine, 'alice');
    assert.equal(cache.get(forged), undefined);
    assert.equal(cache.get(`x${genuine}`), undefined, 'a token that only ends like it');
    cache.delete(forged);
    assert.equal(cache.get(genuine), 'alice');
    cache.delete(genuine);
    assert.equal(cache.get(genuine), undefined);
  });

  it('does not count a forged token\'s miss as a use of the genuine entry', () => {
    const cache = new VerifiedTokenCache<string>(2);
    cache.set('h.alice.sig-a', 'alice');
    cache.set('h.bob.sig-b', 'bob');
    assert.equal(cache.get('h.mallory.sig-a'), undefined);
    cache.set('h.carol.sig-c', 'carol');
    assert.deepEqual([cache.get('h.alice.sig-a'), cache.get('h.bob.sig-b'), cache.get('h.carol.sig-c')], [undefined, 'bob', 'carol'], 'alice was still the least recently used');
  });

  it('forgets a deleted entry', () => {
    const cache = new VerifiedTokenCache<number>(2);
    cache.set('a', 1);
    cache.delete('a');
    assert.equal(cache.get('a'), undefined);
  });
});
