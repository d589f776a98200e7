import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { sweepExpiredGrants } from './sweep-expired-grants.ts';

describe('sweepExpiredGrants', () => {
  it('removes what expired, and families revoked longer ago than the longest access token lives (plus the revocation margin)', async () => {
    const now = new Date('2030-01-02T00:00:00Z');
    const calls: [Date, Date | undefined][] = [];
    const removed = await sweepExpiredGrants({
      clock: { now: () => now },
      store: { sweepExpired: async (at: Date, revokedBefore?: Date) => (calls.push([at, revokedBefore]), 7) },
    });
    assert.equal(removed, 7);
    // A day (the longest access token) and a minute (the revocation margin) before now.
    assert.deepEqual(calls, [[now, new Date('2029-12-31T23:59:00Z')]]);
  });
});
