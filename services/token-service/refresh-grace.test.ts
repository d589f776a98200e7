import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { decodeJwt } from 'jose';
import { addSeconds, epochSeconds } from '#shared/clock.ts';
import type { OAuthError } from '#shared/oauth-error.ts';
import { refreshGraceClaimId } from '#shared/grants/refresh-tokens.ts';
import { firstRefreshToken, rotateRefreshToken, type Deps, type RotateRefreshTokenInput } from './rotate-refresh-token.ts';
import { familyOf, recordRevocationInto, refusal, testClient, testKeys, testWorld } from './test-doubles.ts';

const GRANT = 'R'.repeat(22);
const FAMILY_TTL = 3600;
const GRACE = 10;

async function setup() {
  const { store, clock, audit, revocations, refreshTokens } = testWorld();
  const now = clock.now();
  const familyExpiresAt = addSeconds(now, FAMILY_TTL);
  const grant = { grantId: GRANT, clientId: 'c_test', sub: 'u_1', username: 'alice', scopes: ['read', 'write'], authTime: epochSeconds(now), grantStartedAtMs: now.getTime() };
  await store.createFamily(familyOf(grant, now, familyExpiresAt));
  const token = firstRefreshToken(refreshTokens, grant, familyExpiresAt);
  const deps: Deps = {
    store, refreshTokens, revocations, clock, audit, recordRevocation: recordRevocationInto(store, revocations, clock),
    tokens: { keys: await testKeys(), issuer: 'https://as.example.com', audience: 'https://as.example.com' },
  };
  return { deps, store, clock, audit, refreshTokens, token };
}

const graceClient = (seconds = GRACE) => testClient({ refreshGraceSeconds: seconds });
const input = (refreshToken: string, client = graceClient(), overrides: Partial<RotateRefreshTokenInput> = {}): RotateRefreshTokenInput =>
  ({ client, refreshToken, scope: undefined, ...overrides });

describe('refresh grace', () => {
  it('answers a rotated token presented again within the window once, with the same successor generation, audited', async () => {
    const { deps, store, clock, audit, refreshTokens, token } = await setup();
    const first = await rotateRefreshToken(deps, input(token));
    clock.advance(GRACE);
    const graced = await rotateRefreshToken(deps, input(token, graceClient(), { scope: 'read' }));
    assert.deepEqual(graced.scopes, ['read']);
    assert.equal(decodeJwt(graced.accessToken).gid, GRANT);
    assert.notEqual(graced.refreshToken, first.refreshToken);
    assert.deepEqual(refreshTokens.open(graced.refreshToken!)!.payload, refreshTokens.open(first.refreshToken!)!.payload, 'generation 1 again, same grant');
    assert.ok(store.claims.has(refreshGraceClaimId({ grantId: GRANT, generation: 0 })));
    const [used] = audit.ofType('oauth.refresh_token.grace_used');
    assert.equal(used!.subject, 'c_test');
    assert.equal(used!.data.grant_id, GRANT);
    assert.equal(used!.data.jti, decodeJwt(graced.accessToken).jti);
    assert.ok(!JSON.stringify(audit.events).includes(token));
    assert.equal(audit.ofType('oauth.token.refreshed').length, 1, 'the grace answer is its own event');
    assert.equal(store.families.get(GRANT)?.revokedAt, null);

    // A further presentation is reuse: the family is revoked, both successors with it.
    assert.equal((await refusal(rotateRefreshToken(deps, input(token)))).code, 'invalid_grant');
    assert.equal(audit.ofType('oauth.refresh_token.reused').length, 1);
    assert.equal((await refusal(rotateRefreshToken(deps, input(graced.refreshToken!)))).code, 'invalid_grant');
    assert.equal((await refusal(rotateRefreshToken(deps, input(first.refreshToken!)))).code, 'invalid_grant');
  });

  it('after the window a rotated token is reuse, and nothing is claimed for its grace', async () => {
    const { deps, store, clock, audit, token } = await setup();
    await rotateRefreshToken(deps, input(token));
    clock.advance(GRACE + 0.001);
    assert.equal((await refusal(rotateRefreshToken(deps, input(token)))).code, 'invalid_grant');
    assert.equal(store.claims.has(refreshGraceClaimId({ grantId: GRANT, generation: 0 })), false);
    assert.equal(audit.ofType('oauth.refresh_token.reused').length, 1);
    assert.notEqual(store.families.get(GRANT)?.revokedAt, null);
  });

  it('grace 0 (the default) is strict: exactly one of concurrent refreshes succeeds, without any read', async () => {
    const { deps, store, token } = await setup();
    const reads: string[] = [];
    store.refreshTokenSpentAt = async () => {
      reads.push('spentAt');
      return null;
    };
    const results = await Promise.allSettled(Array.from({ length: 5 }, () => rotateRefreshToken(deps, input(token, testClient()))));
    assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1);
    for (const r of results) if (r.status === 'rejected') assert.equal((r.reason as OAuthError).code, 'invalid_grant');
    assert.deepEqual(reads, []);
  });

  it('of N concurrent presentations of a just-rotated token exactly one gets the grace, the rest are reuse', async () => {
    const { deps, audit, token } = await setup();
    await rotateRefreshToken(deps, input(token));
    const results = await Promise.allSettled(Array.from({ length: 8 }, () => rotateRefreshToken(deps, input(token))));
    assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1);
    for (const r of results) if (r.status === 'rejected') assert.equal((r.reason as OAuthError).code, 'invalid_grant');
    assert.equal(audit.ofType('oauth.refresh_token.grace_used').length, 1);
    assert.equal(audit.ofType('oauth.refresh_token.reused').length, 1, 'a burst of reuses is one event');
  });

  it('finding 9: when the spend\u2019s database answer is lost, the client\u2019s retry within the grace succeeds', async () => {
    const { deps, store, audit, token } = await setup();
    const spend = store.spendRefreshToken.bind(store);
    store.spendRefreshToken = async (...args) => {
      await spend(...args);
      throw new Error('connection reset while reading the insert reply');
    };
    assert.equal((await refusal(rotateRefreshToken(deps, input(token)))).code, 'temporarily_unavailable');
    store.spendRefreshToken = spend;
    const retried = await rotateRefreshToken(deps, input(token));
    assert.ok(retried.refreshToken);
    assert.deepEqual(audit.events.map((e) => e.type).filter((t) => t.startsWith('oauth.refresh_token.')),
      ['oauth.refresh_token.spend_unconfirmed', 'oauth.refresh_token.grace_used']);
    // The retried answer continues the family.
    assert.ok((await rotateRefreshToken(deps, input(retried.refreshToken!))).refreshToken);
  });

  it('one live line: after a grace, the successor that loses is reuse (no second grace in a row), so two holders cannot both go on', async () => {
    const { deps, store, audit, token } = await setup();
    const first = await rotateRefreshToken(deps, input(token));
    const graced = await rotateRefreshToken(deps, input(token));
    // One holder continues with its generation-1 token ...
    const continued = await rotateRefreshToken(deps, input(graced.refreshToken!));
    assert.ok(continued.refreshToken);
    // ... and the other's, presented at once (within the window), is reuse: the family ends.
    assert.equal((await refusal(rotateRefreshToken(deps, input(first.refreshToken!)))).code, 'invalid_grant');
    assert.equal(audit.ofType('oauth.refresh_token.reused').length, 1);
    assert.notEqual(store.families.get(GRANT)?.revokedAt, null);
    assert.equal((await refusal(rotateRefreshToken(deps, input(continued.refreshToken!)))).code, 'invalid_grant');
  });

  it('a later generation gets its own grace once its predecessor used none', async () => {
    const { deps, token } = await setup();
    const second = await rotateRefreshToken(deps, input(token));
    await rotateRefreshToken(deps, input(second.refreshToken!));
    assert.ok((await rotateRefreshToken(deps, input(second.refreshToken!))).refreshToken, 'generation 1 retried within the grace');
  });

  it('another client\u2019s rotated token gets no grace and leaves the grant alone', async () => {
    const { deps, store, token } = await setup();
    await rotateRefreshToken(deps, input(token));
    const other = testClient({ _id: 'c_other', refreshGraceSeconds: GRACE });
    assert.equal((await refusal(rotateRefreshToken(deps, input(token, other)))).code, 'invalid_grant');
    assert.equal(store.claims.has(refreshGraceClaimId({ grantId: GRANT, generation: 0 })), false);
    assert.equal(store.families.get(GRANT)?.revokedAt, null);
  });
});
