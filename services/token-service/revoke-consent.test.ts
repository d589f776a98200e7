import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { addSeconds } from '#shared/clock.ts';
import { subjectClientKey } from '#shared/grants/revocation-feed.ts';
import { revokeConsent, type Deps } from './revoke-consent.ts';
import { MAX_ACCESS_TOKEN_TTL_SECONDS } from '#shared/reference-data/clients.ts';
import { AuditRecorder, MemoryStore, TestClock, recordRevocationInto, testClient, testRevocations } from './test-doubles.ts';
import type { RefreshTokenFamily } from './store.ts';

function family(grantId: string, sub: string, clientId: string, now: Date, overrides: Partial<RefreshTokenFamily> = {}): RefreshTokenFamily {
  return {
    grantId, clientId, sub, username: sub, scopes: ['read'], authTime: now,
    accessTokenTtlSeconds: 600, createdAt: now, expiresAt: addSeconds(now, 3600), revokedAt: null, ...overrides,
  };
}

function setup(client = testClient({ accessTokenTtlSeconds: 300 })) {
  const store = new MemoryStore();
  const clock = new TestClock();
  const audit = new AuditRecorder();
  const revocations = testRevocations(clock);
  const deps: Deps = { store, clock, audit, findClient: async () => client, recordRevocation: recordRevocationInto(store, revocations, clock) };
  return { deps, store, clock, audit, revocations };
}

describe('revokeConsent', () => {
  it('ends every family of the owner with the client and records a subject_client revocation', async () => {
    const { deps, store, clock, audit } = setup();
    const now = clock.now();
    for (const f of [family('g1', 'u_1', 'c_test', now), family('g2', 'u_1', 'c_test', now), family('g3', 'u_1', 'c_other', now), family('g4', 'u_2', 'c_test', now)]) {
      await store.createFamily(f);
    }
    assert.deepEqual(await revokeConsent(deps, { sub: 'u_1', clientId: 'c_test' }), { revokedFamilies: 2 });
    assert.deepEqual([...store.families.values()].filter((f) => f.revokedAt).map((f) => f.grantId), ['g1', 'g2']);
    // Each revoked family's claim is taken, so a later revocation of it is not reported again.
    assert.deepEqual([...store.claims.keys()].sort(), ['revoked:g1', 'revoked:g2']);
    // Each grant is revoked for as long as its sealed refresh tokens live...
    const grants = store.revocations.filter((r) => r.kind === 'grant');
    assert.deepEqual(grants.map((r) => r.key).sort(), ['g1', 'g2']);
    for (const r of grants) assert.ok(r.expiresAt >= store.families.get(r.key)!.expiresAt);
    // ...and the owner's cut-off for the client as long as any grant approved before it could live.
    const record = store.revocations.find((r) => r.kind === 'subject_client');
    assert.equal(record?.key, subjectClientKey('u_1', 'c_test'));
    assert.ok(record!.expiresAt >= addSeconds(now, testClient().refreshTokenTtlSeconds));
    assert.equal(audit.ofType('oauth.consent.revoked')[0]?.data.count, 2);
  });

  it('refuses the owner\u2019s tokens for the client issued up to the cut-off, and no later ones', async () => {
    const { deps, clock, revocations } = setup();
    const before = clock.now();
    clock.advance(1);
    await revokeConsent(deps, { sub: 'u_1', clientId: 'c_test' });
    clock.advance(1);
    const token = (iat: Date, sub = 'u_1', clientId = 'c_test') => ({ grantId: 'g1', sub, clientId, iat: Math.floor(iat.getTime() / 1000) });
    assert.equal(revocations.isRevoked(token(before)), true);
    assert.equal(revocations.isRevoked(token(clock.now())), false);
    assert.equal(revocations.isRevoked(token(before, 'u_2')), false);
    assert.equal(revocations.isRevoked(token(before, 'u_1', 'c_other')), false);
  });

  it('counts neither expired nor already revoked families', async () => {
    const { deps, store, clock } = setup();
    const now = clock.now();
    await store.createFamily(family('expired', 'u_1', 'c_test', now, { expiresAt: now }));
    await store.createFamily(family('revoked', 'u_1', 'c_test', now, { revokedAt: addSeconds(now, -60) }));
    assert.deepEqual(await revokeConsent(deps, { sub: 'u_1', clientId: 'c_test' }), { revokedFamilies: 0 });
    assert.equal(store.families.get('revoked')?.revokedAt?.getTime(), addSeconds(now, -60).getTime(), 'the first revocation stands');
    assert.equal(store.revocations.length, 1, 'the cut-off is recorded all the same');
  });

  it('remembers the revocation for the longest access token lifetime when the client is gone', async () => {
    const { deps, store, clock } = setup();
    deps.findClient = async () => undefined;
    await revokeConsent(deps, { sub: 'u_1', clientId: 'c_gone' });
    assert.ok(store.revocations[0]!.expiresAt >= addSeconds(clock.now(), MAX_ACCESS_TOKEN_TTL_SECONDS));
  });
});
