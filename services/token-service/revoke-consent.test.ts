import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { addSeconds } from '#shared/clock.ts';
import { subjectClientKey } from '#shared/revocations.ts';
import { revokeConsent, type Deps } from './revoke-consent.ts';
import { AuditRecorder, MemoryStore, TestClock, testClient } from './test-doubles.ts';
import type { RefreshTokenFamily } from './store.ts';

function family(grantId: string, sub: string, clientId: string, now: Date): RefreshTokenFamily {
  return {
    grantId, clientId, sub, username: sub, scopes: ['read'], authTime: now, currentHash: grantId,
    accessTokenTtlSeconds: 600, createdAt: now, rotatedAt: null, expiresAt: addSeconds(now, 3600), revokedAt: null,
  };
}

describe('revokeConsent', () => {
  it('ends every family of the owner with the client and records a subject_client revocation', async () => {
    const store = new MemoryStore();
    const clock = new TestClock();
    const audit = new AuditRecorder();
    const now = clock.now();
    for (const f of [family('g1', 'u_1', 'c_test', now), family('g2', 'u_1', 'c_test', now), family('g3', 'u_1', 'c_other', now), family('g4', 'u_2', 'c_test', now)]) {
      await store.createFamily(f);
    }
    const deps: Deps = { store, clock, audit, findClient: async () => testClient({ accessTokenTtlSeconds: 300 }), recordRevocation: async (r) => store.recordRevocation(r) };
    assert.deepEqual(await revokeConsent(deps, { sub: 'u_1', clientId: 'c_test' }), { revokedFamilies: 2 });
    assert.deepEqual([...store.families.values()].filter((f) => f.revokedAt).map((f) => f.grantId), ['g1', 'g2']);
    const [record] = store.revocations;
    assert.equal(record?.kind, 'subject_client');
    assert.equal(record?.key, subjectClientKey('u_1', 'c_test'));
    assert.ok(record!.expiresAt >= addSeconds(now, 300));
    assert.equal(audit.ofType('oauth.consent.revoked')[0]?.data.count, 2);
  });
});
