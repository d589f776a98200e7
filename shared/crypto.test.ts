import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomIdentifier } from './crypto.ts';

describe('randomIdentifier', () => {
  it('is base64url of the given size and never begins with "-" (a command line would take it for an option)', () => {
    // One in 64 base64url strings begins with "-": 4,000 draws would show it almost surely.
    const ids = Array.from({ length: 4000 }, () => randomIdentifier(16));
    assert.ok(ids.every((id) => /^[A-Za-z0-9_][A-Za-z0-9_-]{21}$/.test(id)));
    assert.equal(new Set(ids).size, ids.length);
  });
});
