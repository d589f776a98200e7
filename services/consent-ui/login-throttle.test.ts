import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { accountKey, addressKey, allowance, AttemptGates, clientAddress, lockSeconds } from './login-throttle.ts';

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

describe('AttemptGates', () => {
  it('finding 11: AttemptGates makes a key\'s counter updates one after the other, and never those of two keys', async () => {
    const gates = new AttemptGates();
    const order: string[] = [];
    const step = (name: string) => async () => {
      order.push(`${name} start`);
      await new Promise((resolve) => setImmediate(resolve));
      order.push(`${name} end`);
    };
    await Promise.all([gates.exclusive('user:a', step('a1')), gates.exclusive('user:a', step('a2')), gates.exclusive('user:b', step('b1'))]);
    assert.deepEqual(order.filter((o) => o.startsWith('a')), ['a1 start', 'a1 end', 'a2 start', 'a2 end']);
    assert.ok(order.indexOf('b1 start') < order.indexOf('a1 end'), 'another key does not wait');
    await assert.rejects(gates.exclusive('user:a', async () => { throw new Error('db down'); }));
    assert.equal(await gates.exclusive('user:a', async () => 'next'), 'next', 'a failure does not block the key');
  });

  it('finding 11: AttemptGates wakes an attempt when a check of its key ends or a lock is set, and gives up after the wait', async () => {
    const gates = new AttemptGates();
    await gates.exclusive('user:a', async (state) => { state.inFlight++; });
    const waiting = gates.wait('user:a', 10_000);
    gates.leave('user:a');
    assert.equal(await waiting, true);
    const locked = gates.wait('user:a', 10_000);
    gates.rememberLock('user:a', new Date(Date.now() + 60_000));
    assert.equal(await locked, true);
    assert.ok(gates.lockedUntil('user:a', new Date()));
    assert.equal(gates.lockedUntil('user:a', new Date(Date.now() + 60_000)), undefined, 'until it ends');
    assert.equal(await gates.wait('user:b', 5), false, 'nothing ended: refused after the wait');
    assert.equal(await gates.exclusive('user:a', async (state) => state.failures), undefined, 'an idle key is forgotten: its count is read again');
  });
});
