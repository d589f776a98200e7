import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { addSeconds } from '#shared/clock.ts';
import { keyStates, newestKey, pendingSupersessions, signerAt, successorDueAt } from './signing-key-states.ts';

const t0 = new Date('2030-01-01T00:00:00Z');
const at = (seconds: number) => addSeconds(t0, seconds);
type Key = { _id: string; createdAt: Date; activatesAt?: Date; supersededAt: Date | null; retireAt: Date | null };
const key = (kid: string, created: number, fields: Partial<Key> = {}): Key =>
  ({ _id: kid, createdAt: at(created), supersededAt: null, retireAt: null, ...fields });
const states = (keys: Key[], now: Date) => Object.fromEntries(keyStates(keys, now).map(({ key: k, state }) => [k._id, state]));

describe('signing key states', () => {
  it('a key made before scheduled rotation (no activatesAt) signs from its creation', () => {
    assert.deepEqual(states([key('a', 0)], at(0)), { a: 'active' });
  });

  it('a scheduled key is next until its activation, then active; the key it overtakes is retiring, then retired', () => {
    const keys = [key('a', 0, { supersededAt: at(100), retireAt: at(200) }), key('b', 90, { activatesAt: at(100) })];
    assert.deepEqual(states(keys, at(99)), { a: 'active', b: 'next' });
    assert.equal(signerAt(keys, at(99))?._id, 'a');
    assert.deepEqual(states(keys, at(100)), { a: 'retiring', b: 'active' }, 'switches at the activation instant');
    assert.equal(signerAt(keys, at(100))?._id, 'b');
    assert.deepEqual(states(keys, at(200)), { a: 'retired', b: 'active' });
  });

  it('the key activated last signs even while an older one is not marked superseded yet (a rotator died before marking it)', () => {
    const keys = [key('a', 0), key('b', 90, { activatesAt: at(100) })];
    assert.equal(signerAt(keys, at(100))?._id, 'b');
    assert.deepEqual(states(keys, at(100)), { a: 'retiring', b: 'active' });
  });

  it('a next key that keys rotate replaced before it activated never signs', () => {
    // keys rotate at 95: c signs at once, b (next, activating at 100) is superseded at 95.
    const keys = [key('a', 0, { supersededAt: at(100), retireAt: at(500) }), key('b', 90, { activatesAt: at(100), supersededAt: at(95), retireAt: at(400) }),
      key('c', 95, { activatesAt: at(95) })];
    assert.deepEqual(states(keys, at(96)), { a: 'retiring', b: 'retiring', c: 'active' });
    assert.deepEqual(states(keys, at(101)), { a: 'retiring', b: 'retiring', c: 'active' });
    assert.deepEqual(pendingSupersessions(keys, 60), [], 'b overtakes nothing: c stays current');
  });

  it('two keys activating at the same instant: every holder picks the same one', () => {
    const keys = [key('x', 0), key('y', 0)];
    assert.equal(signerAt(keys, at(1))?._id, signerAt([...keys].reverse(), at(1))?._id);
  });

  it('pendingSupersessions marks each overtaken key at the next activation, retained for the given seconds', () => {
    const keys = [key('a', 0), key('b', 90, { activatesAt: at(100) })];
    assert.deepEqual(pendingSupersessions(keys, 60), [{ kid: 'a', supersededAt: at(100), retireAt: at(160) }]);
    assert.deepEqual(pendingSupersessions([key('a', 0, { supersededAt: at(100), retireAt: at(160) }), keys[1]!], 60), []);
  });

  it('the schedule counts from the newest key by creation', () => {
    const keys = [key('a', 0), key('b', 90, { activatesAt: at(100) })];
    assert.equal(newestKey(keys)?._id, 'b');
    assert.deepEqual(successorDueAt(newestKey(keys)!, 60), at(150));
  });
});
