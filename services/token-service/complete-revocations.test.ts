import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { addSeconds } from '#shared/clock.ts';
import { MAX_ACCESS_TOKEN_TTL_SECONDS } from '#shared/reference-data/clients.ts';
import { completeDecidedRevocations, type Deps } from './complete-revocations.ts';
import type { Revocation } from './store.ts';

const NOW = new Date('2030-01-01T00:00:00Z');
const FAMILY_EXPIRES = addSeconds(NOW, 3600);

function setup(options: { noted?: string[]; fromClaims?: string[]; stored?: string[]; failing?: boolean } = {}) {
  const recorded: Revocation[] = [];
  const cleared: string[] = [];
  const marked: string[] = [];
  const asked: { decidedBefore: Date; fromClaims: boolean }[] = [];
  const decided = (ids: string[] = []) => ids.map((grantId) => ({ grantId, familyExpiresAt: FAMILY_EXPIRES }));
  const deps: Deps = {
    clock: { now: () => NOW },
    store: {
      decidedRevocations: async (_now, decidedBefore) => (asked.push({ decidedBefore, fromClaims: false }), decided(options.noted)),
      decidedRevocationsFromClaims: async (_now, decidedBefore) => (asked.push({ decidedBefore, fromClaims: true }), decided(options.fromClaims)),
      storedGrantRevocations: async (ids) => new Set(ids.filter((id) => options.stored?.includes(id))),
      revocationRecorded: async (grantId) => void cleared.push(grantId),
      markFamilyRevoked: async (grantId) => void marked.push(grantId),
    },
    recordRevocation: async (revocation) => {
      if (options.failing) throw new Error('database blip');
      recorded.push(revocation);
    },
  };
  return { deps, recorded, cleared, marked, asked };
}

describe('completeDecidedRevocations', () => {
  it('records each decided, unrecorded grant revocation for as long as its tokens could be presented, and marks its family', async () => {
    const { deps, recorded, marked, asked } = setup({ noted: ['g1', 'g2'] });
    assert.equal(await completeDecidedRevocations(deps), 2);
    assert.deepEqual(recorded.map((r) => [r.kind, r.key]), [['grant', 'g1'], ['grant', 'g2']]);
    assert.ok(recorded.every((r) => r.issuedBefore.getTime() === NOW.getTime() && r.expiresAt >= addSeconds(FAMILY_EXPIRES, MAX_ACCESS_TOKEN_TTL_SECONDS)));
    assert.deepEqual(marked, ['g1', 'g2']);
    assert.deepEqual(asked, [{ decidedBefore: addSeconds(NOW, -60), fromClaims: false }], 'the last minute\'s may still be on their way; no claims read');
  });

  it('clears a revocation found stored after all, without recording it again', async () => {
    const { deps, recorded, cleared } = setup({ noted: ['g1', 'g2'], stored: ['g1'] });
    assert.equal(await completeDecidedRevocations(deps), 1);
    assert.deepEqual(recorded.map((r) => r.key), ['g2']);
    assert.deepEqual(cleared, ['g1']);
  });

  it('looks among the claims only when asked, and completes each grant once', async () => {
    const { deps, recorded, asked } = setup({ noted: ['g1'], fromClaims: ['g1', 'old'] });
    assert.equal(await completeDecidedRevocations(deps, { fromClaims: true }), 2);
    assert.deepEqual(recorded.map((r) => r.key), ['g1', 'old']);
    assert.deepEqual(asked.map((a) => a.fromClaims), [false, true]);
  });

  it('counts nothing completed while the database keeps failing, so the next round tries again', async () => {
    const { deps, marked } = setup({ noted: ['g1'], failing: true });
    assert.equal(await completeDecidedRevocations(deps), 0);
    assert.deepEqual(marked, []);
  });
});
