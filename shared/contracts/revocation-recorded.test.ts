import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { checker } from './checker.ts';
import { RevocationRecordedSchema } from './revocation-recorded.ts';

const recorded = checker(RevocationRecordedSchema);
const event = (extra: Record<string, unknown>) => ({ kind: 'subject', key: 'u_1', issued_before: 1_893_456_000, expires_at: 1_893_459_600, ...extra });

describe('oauth.revocation.recorded', () => {
  it('takes instants a Date can hold, and refuses the rest (every instance keeps the record until its expiry)', () => {
    assert.ok(recorded.parse(event({})), 'an earlier writer sends no milliseconds');
    assert.ok(recorded.parse(event({ issued_before: 8_640_000_000_000, issued_before_ms: 8_640_000_000_000_000, expires_at: 8_640_000_000_000 })));
    for (const [field, value] of [
      ['issued_before', 8_640_000_000_001], ['issued_before', 1e300], ['issued_before', -1], ['issued_before', 1.5],
      ['issued_before_ms', 8_640_000_000_000_001], ['issued_before_ms', 1e300],
      ['expires_at', 8_640_000_000_001], ['expires_at', 1e300], ['expires_at', '1893459600'],
    ] as const) {
      assert.equal(recorded.parse(event({ [field]: value })), undefined, `${field} ${value}`);
    }
  });
});
