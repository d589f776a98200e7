// cacheOwnerReads over hand-written reads: a reused consent answers with the time its read was sent
// (what a grant approved by it may say of its start, finding 6), and a change broadcast makes the
// next read a new one, with its own time.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { ConsentUiChanged } from '#shared/contracts/consent-ui-changed.ts';
import { cacheOwnerReads } from './cached-reads.ts';
import { consentId, type ConsentDoc, type OwnerRecordReads } from './records.ts';

const at = (seconds: number) => new Date(Date.UTC(2030, 0, 1, 0, 0, seconds));

function setup() {
  let stored: ConsentDoc | null = {
    _id: consentId('u1', 'c1'), sub: 'u1', clientId: 'c1', scopes: ['orders'], grantedScopes: ['orders'], createdAt: at(0), updatedAt: at(0),
  };
  let reads = 0;
  const findConsent = async () => {
    reads++;
    return stored;
  };
  const base: OwnerRecordReads = {
    findSession: async () => null,
    findConsent,
    findConsentAsOf: async (_sub, _clientId, now) => ({ consent: await findConsent(), readAt: now }),
    findConsentUncached: findConsent,
  };
  let onChange: ((event: ConsentUiChanged) => void) | undefined;
  const cached = cacheOwnerReads(base, { subscribe: (callback) => ((onChange = callback), { unsubscribe() {} }) }, { maxAgeMs: 60_000 });
  return {
    owners: cached.reads,
    forgetConsents: cached.forgetConsents,
    reads: () => reads,
    deleteConsent: () => (stored = null),
    broadcast: (event: ConsentUiChanged) => onChange!(event),
  };
}

describe('cacheOwnerReads: the consent with the time of its read', () => {
  it('answers a reuse with the time the read was sent, not the time of the reuse', async () => {
    const { owners, reads } = setup();
    const first = await owners.findConsentAsOf('u1', 'c1', at(10));
    const reused = await owners.findConsentAsOf('u1', 'c1', at(11));
    assert.equal(reads(), 1, 'read once');
    assert.deepEqual([first.readAt, reused.readAt], [at(10), at(10)]);
    assert.deepEqual(reused.consent?.scopes, ['orders']);
    assert.deepEqual((await owners.findConsent('u1', 'c1'))?.scopes, ['orders'], 'the plain read shares the entry');
    assert.equal(reads(), 1);
  });

  it('reads anew, with the new time, once a change broadcast named the consent', async () => {
    const { owners, reads, deleteConsent, broadcast } = setup();
    await owners.findConsentAsOf('u1', 'c1', at(10));
    deleteConsent();
    assert.notEqual((await owners.findConsentAsOf('u1', 'c1', at(11))).consent, null, 'until the broadcast, the earlier read');
    broadcast({ kind: 'consent', key: consentId('u1', 'c1') });
    const after = await owners.findConsentAsOf('u1', 'c1', at(12));
    assert.deepEqual([after.consent, after.readAt, reads()], [null, at(12), 2]);
  });

  it('reads every consent anew, with the new time, after forgetConsents (a revocation by time)', async () => {
    const { owners, reads, forgetConsents } = setup();
    await owners.findConsentAsOf('u1', 'c1', at(10));
    forgetConsents();
    assert.deepEqual((await owners.findConsentAsOf('u1', 'c1', at(12))).readAt, at(12));
    assert.equal(reads(), 2);
  });

  it('passes the uncached read through', async () => {
    const { owners, reads } = setup();
    await owners.findConsentAsOf('u1', 'c1', at(10));
    await owners.findConsentUncached('u1', 'c1');
    assert.equal(reads(), 2);
  });
});
