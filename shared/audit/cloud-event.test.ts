// Event ids: random by default; derived from the type and a key for an event that may be sent again,
// whose time is then the time of what it announces.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { cloudEvent } from './cloud-event.ts';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe('cloudEvent ids', () => {
  it('gives each event a random UUID when no key names it', () => {
    const [a, b] = [1, 2].map(() => cloudEvent('oauth.code.issued', 'urn:a', 'c1', {}).id);
    assert.match(a!, UUID);
    assert.notEqual(a, b);
  });

  it('gives events of one type and key one UUID (version 8) in any process, and any other type or key another', () => {
    const at = new Date();
    const id = (type: 'oauth.code.issued' | 'oauth.authorization.approved', key: string, source = 'urn:a') => cloudEvent(type, source, 'c1', {}, { key, at }).id;
    const first = id('oauth.code.issued', 'g1');
    assert.match(first, UUID);
    assert.equal(first[14], '8', 'version 8: custom');
    assert.equal(id('oauth.code.issued', 'g1', 'urn:another-instance'), first);
    assert.notEqual(id('oauth.authorization.approved', 'g1'), first);
    assert.notEqual(id('oauth.code.issued', 'g2'), first);
  });

  it('dates an event sent again at what it announces, and any other event now', () => {
    const decidedAt = new Date('2030-01-01T00:00:00Z');
    assert.equal(cloudEvent('oauth.code.issued', 'urn:a', 'c1', {}, { key: 'g1', at: decidedAt }).time, '2030-01-01T00:00:00.000Z');
    const time = Date.parse(cloudEvent('oauth.code.issued', 'urn:a', 'c1', {}).time);
    assert.ok(Math.abs(time - Date.now()) < 60_000);
  });
});
