import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { accountKey, addressKey, allowance, clientAddress, lockSeconds } from './login-throttle.ts';

describe('lockSeconds', () => {
  const policy = { lockSeconds: 60, maxLockSeconds: 900 };
  it('starts at the configured lock and doubles with every earlier lock, up to the cap', () => {
    assert.deepEqual([0, 1, 2, 3, 4, 5, 40].map((n) => lockSeconds(policy, n)), [60, 120, 240, 480, 900, 900, 900]);
  });
});

describe('allowance', () => {
  it('is the maximum at first and one more attempt after each lock', () => {
    assert.equal(allowance(10, 0), 10);
    assert.equal(allowance(10, 3), 13);
  });
});

describe('keys', () => {
  it('keeps accounts and addresses apart', () => {
    assert.equal(accountKey('alice'), 'user:alice');
    assert.equal(addressKey('192.0.2.1'), 'ip:192.0.2.1');
  });
});

describe('clientAddress', () => {
  it('keeps an IPv4 address as it is, also when written IPv4-mapped', () => {
    assert.equal(clientAddress('192.0.2.7'), '192.0.2.7');
    assert.equal(clientAddress('::ffff:192.0.2.7'), '192.0.2.7');
    assert.equal(clientAddress('::FFFF:192.0.2.7'), '192.0.2.7');
  });

  it('throttles IPv6 by /64, however the address is written', () => {
    const expected = '2001:db8:5:5::/64';
    for (const ip of ['2001:db8:5:5::a', '2001:0db8:0005:0005:0000:0000:0000:000b', '2001:DB8:5:5:1:2:3:4', '2001:db8:5:5::1%eth0']) {
      assert.equal(clientAddress(ip), expected, ip);
    }
    assert.equal(clientAddress('2001:db8::1'), '2001:db8:0:0::/64');
    assert.equal(clientAddress('::1'), '0:0:0:0::/64');
    assert.equal(clientAddress('64:ff9b::192.0.2.1'), '64:ff9b:0:0::/64');
    assert.notEqual(clientAddress('2001:db8:5:6::a'), expected);
  });

  it('passes anything else through, bounded', () => {
    assert.equal(clientAddress('unknown'), 'unknown');
    assert.equal(clientAddress('x'.repeat(100)).length, 64);
  });
});
