import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { RevocationRecorded } from '#shared/contracts/revocation-recorded.ts';
import type { RevocationRecord } from '#shared/grants/revocation-set.ts';
import { revocationRecorder, type Deps } from './record-revocation.ts';
import type { Revocation } from './store.ts';

const T0 = new Date('2030-01-01T00:00:00.250Z');
const revocation: Revocation = { kind: 'grant', key: 'g1', issuedBefore: T0, expiresAt: new Date(T0.getTime() + 660_500) };

/** Hand-written deps that note the order of the steps. */
function harness(options: { storeFails?: boolean; publishFails?: boolean } = {}) {
  const steps: string[] = [];
  const published: RevocationRecorded[] = [];
  const applied: RevocationRecord[] = [];
  const errors: unknown[] = [];
  const deps: Deps = {
    store: {
      recordRevocation: async (r, now) => {
        steps.push(`store ${r.key} at ${now.toISOString()}`);
        if (options.storeFails) throw new Error('database away');
      },
    },
    publish: (recorded) => {
      steps.push('publish');
      if (options.publishFails) throw new Error('connection closed');
      published.push(recorded);
    },
    clock: { now: () => T0 },
    log: { error: (obj: unknown) => void errors.push(obj) },
    local: { record: (record) => { steps.push('local'); applied.push(record); } },
  };
  return { deps, steps, published, applied, errors };
}

describe('revocationRecorder', () => {
  it('stores the revocation, then applies it locally, then broadcasts its wire form', async () => {
    const h = harness();
    await revocationRecorder(h.deps)(revocation);
    assert.deepEqual(h.steps, [`store g1 at ${T0.toISOString()}`, 'local', 'publish']);
    assert.deepEqual(h.published, [{
      kind: 'grant', key: 'g1',
      issued_before: Math.floor(T0.getTime() / 1000), issued_before_ms: T0.getTime(), expires_at: Math.ceil((T0.getTime() + 660_500) / 1000),
    }]);
    assert.deepEqual(h.applied, [{ kind: 'grant', key: 'g1', issuedBeforeMs: T0.getTime(), expiresAtMs: T0.getTime() + 660_500 }]);
  });

  it('retries the store, then applies and broadcasts it anyway (refusing more is safe) and tells the caller it is not durable', async () => {
    const h = harness({ storeFails: true });
    await assert.rejects(revocationRecorder(h.deps)(revocation), /database away/);
    assert.deepEqual(h.steps.slice(0, 3).map((s) => s.split(' ')[0]), ['store', 'store', 'store'], 'three tries');
    assert.deepEqual(h.steps.slice(3), ['local', 'publish']);
    assert.equal(h.applied.length, 1);
    assert.equal(h.published.length, 1);
    assert.equal(h.errors.length, 1);
  });

  it('logs a failed broadcast and succeeds: the record is stored, and other instances resync from it', async () => {
    const h = harness({ publishFails: true });
    await revocationRecorder(h.deps)(revocation);
    assert.equal(h.applied.length, 1);
    assert.equal(h.errors.length, 1);
  });

  it('works without a local set', async () => {
    const h = harness();
    const { local: _local, ...deps } = h.deps;
    await revocationRecorder(deps)(revocation);
    assert.deepEqual(h.steps, [`store g1 at ${T0.toISOString()}`, 'publish']);
  });
});
