import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytesPooled, randomIdentifier, randomToken } from './crypto.ts';

describe('randomIdentifier', () => {
  it('is base64url of the given size and never begins with "-" (a command line would take it for an option)', () => {
    // One in 64 base64url strings begins with "-": 4,000 draws would show it almost surely.
    const ids = Array.from({ length: 4000 }, () => randomIdentifier(16));
    assert.ok(ids.every((id) => /^[A-Za-z0-9_][A-Za-z0-9_-]{21}$/.test(id)));
    assert.equal(new Set(ids).size, ids.length);
  });
});

describe('randomBytesPooled', () => {
  it('hands out fresh bytes across pool refills, never the same, each a copy the pool does not touch again', () => {
    // 12-byte draws (an IV) over several 4 KiB refills, with odd sizes in between so draws straddle a refill.
    const draws = Array.from({ length: 2000 }, (_, i) => randomBytesPooled(i % 7 === 0 ? 33 : 12));
    const before = draws.map((b) => b.toString('hex'));
    assert.equal(new Set(before).size, draws.length, 'no repeats');
    randomBytesPooled(4096 / 4 - 1);
    assert.deepEqual(draws.map((b) => b.toString('hex')), before, 'later draws and refills leave earlier ones alone');
    // Not all-zero and roughly balanced: a pool handed out before it was filled would show here.
    const ones = draws.reduce((n, b) => n + [...b].reduce((m, byte) => m + byte.toString(2).replaceAll('0', '').length, 0), 0);
    const bits = draws.reduce((n, b) => n + b.length * 8, 0);
    assert.ok(Math.abs(ones / bits - 0.5) < 0.01, `share of one bits ${ones / bits}`);
  });

  it('draws larger sizes directly', () => {
    assert.equal(randomBytesPooled(4096).length, 4096);
    assert.equal(randomToken(48).length, 64);
  });
});
