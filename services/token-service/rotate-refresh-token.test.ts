import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { decodeJwt } from 'jose';
import { addSeconds, epochSeconds } from '#shared/clock.ts';
import type { OAuthError } from '#shared/oauth-error.ts';
import { refreshTokenClaimId, type RefreshTokenPayload } from '#shared/grants/refresh-tokens.ts';
import { subjectClientKey, toRevocationRecord } from '#shared/grants/revocation-feed.ts';
import { firstRefreshToken, rotateRefreshToken, type Deps, type RotateRefreshTokenInput } from './rotate-refresh-token.ts';
import { parseRequestedScope } from './grant-request.ts';
import { revocationExpiry } from './revoke-grant.ts';
import { completeDecidedRevocations } from './complete-revocations.ts';
import { familyOf, recordRevocationInto, refusal, testClient, testKeys, testRevocations, testSealers, testWorld } from './test-doubles.ts';

const GRANT = 'G'.repeat(22);
const FAMILY_TTL = 3600;

async function setup(grantOverrides: Partial<RefreshTokenPayload> = {}) {
  const { store, clock, audit, revocations, codes, refreshTokens } = testWorld();
  const now = clock.now();
  const familyExpiresAt = addSeconds(now, FAMILY_TTL);
  const grant = { grantId: GRANT, clientId: 'c_test', sub: 'u_1', username: 'alice', scopes: ['read', 'write'], authTime: epochSeconds(now) - 30, grantStartedAtMs: now.getTime(), ...grantOverrides };
  // As the code exchange leaves it: the family stored, generation 0 handed out.
  await store.createFamily(familyOf(grant, now, familyExpiresAt));
  const token = firstRefreshToken(refreshTokens, grant, familyExpiresAt);
  const recordRevocation = recordRevocationInto(store, revocations, clock);
  const deps: Deps = {
    store, refreshTokens, revocations, clock, audit, recordRevocation,
    tokens: { keys: await testKeys(), issuer: 'https://as.example.com', audience: 'https://as.example.com' },
  };
  return { deps, store, clock, audit, revocations, codes, refreshTokens, recordRevocation, token, familyExpiresAt };
}

const input = (refreshToken: string, overrides: Partial<RotateRefreshTokenInput> = {}): RotateRefreshTokenInput =>
  ({ client: testClient(), refreshToken, scope: undefined, ...overrides });


describe('rotateRefreshToken', () => {
  it('rotates: the new token works, the response has the whole grant as scope', async () => {
    const { deps, audit, token } = await setup();
    const second = await rotateRefreshToken(deps, input(token));
    assert.deepEqual(second.scopes, ['read', 'write']);
    const claims = decodeJwt(second.accessToken);
    assert.equal(claims.scope, 'read write');
    assert.equal(claims.gid, GRANT);
    assert.equal(claims.sub, 'u_1');
    assert.notEqual(second.refreshToken, token);
    const third = await rotateRefreshToken(deps, input(second.refreshToken!));
    assert.ok(third.refreshToken);
    assert.equal(audit.ofType('oauth.token.refreshed').length, 2);
  });

  it('narrows to the grant\u2019s resources (RFC 8707), refuses wider ones as invalid_target and leaves the token usable', async () => {
    const API = 'https://api.example.com/';
    const FILES = 'https://files.example.com/';
    const { deps, refreshTokens, token } = await setup({ resources: [API, FILES] });
    const servers = [{ _id: API, scopes: ['read'], createdAt: new Date(0) }, { _id: FILES, scopes: ['write'], createdAt: new Date(0) }];
    const withServers = { ...deps, findResourceServer: async (uri: string) => servers.find((s) => s._id === uri) };
    assert.equal((await refusal(rotateRefreshToken(withServers, input(token, { resources: ['https://other.example.com/'] })))).code, 'invalid_target');
    const narrowed = await rotateRefreshToken(withServers, input(token, { resources: [FILES] }));
    assert.equal(decodeJwt(narrowed.accessToken).aud, FILES);
    assert.deepEqual(narrowed.scopes, ['write']);
    assert.deepEqual(refreshTokens.open(narrowed.refreshToken!)!.payload.resources, [API, FILES], 'the grant keeps every authorized resource');
    const whole = await rotateRefreshToken(withServers, input(narrowed.refreshToken!));
    assert.deepEqual(decodeJwt(whole.accessToken).aud, [API, FILES]);
    assert.deepEqual(whole.scopes, ['read', 'write']);
  });

  it('hands out the next generation of the same grant, expiring with the family', async () => {
    const { deps, refreshTokens, token, familyExpiresAt } = await setup();
    const first = refreshTokens.open(token)!;
    const next = refreshTokens.open((await rotateRefreshToken(deps, input(token))).refreshToken!)!;
    assert.deepEqual(next.payload, { ...first.payload, generation: 1 });
    assert.equal(next.expiresAt.getTime(), familyExpiresAt.getTime(), 'rotation never extends the grant');
  });

  it('spends a token with its claim, kept until the family expires (validation-service looks for it)', async () => {
    const { deps, store, token, familyExpiresAt } = await setup();
    const second = await rotateRefreshToken(deps, input(token));
    assert.equal(store.claims.get(refreshTokenClaimId({ grantId: GRANT, generation: 0 }))?.getTime(), familyExpiresAt.getTime());
    assert.equal(store.claims.has(refreshTokenClaimId({ grantId: GRANT, generation: 1 })), false, 'the new token is unspent');
    await rotateRefreshToken(deps, input(second.refreshToken!));
    assert.ok(store.claims.has(refreshTokenClaimId({ grantId: GRANT, generation: 1 })));
  });

  it('revokes the whole grant when a rotated-out token is reused, and reports it once', async () => {
    const { deps, store, audit, revocations, refreshTokens, clock, token, familyExpiresAt } = await setup();
    const second = await rotateRefreshToken(deps, input(token));
    assert.equal((await refusal(rotateRefreshToken(deps, input(token)))).code, 'invalid_grant');
    // The current token dies with its grant.
    assert.equal((await refusal(rotateRefreshToken(deps, input(second.refreshToken!)))).code, 'invalid_grant');
    assert.equal((await refusal(rotateRefreshToken(deps, input(token)))).code, 'invalid_grant');
    assert.notEqual(store.families.get(GRANT)?.revokedAt, null);
    assert.deepEqual(store.revocations.map((r) => [r.kind, r.key]), [['grant', GRANT]]);
    // Sealed tokens are refused by this record alone, so it lasts as long as any of them could.
    assert.equal(store.revocations[0]!.expiresAt.getTime(), revocationExpiry(familyExpiresAt, 600).getTime());
    assert.ok(store.revocations[0]!.expiresAt > addSeconds(clock.now(), FAMILY_TTL));
    assert.equal(revocations.isRevoked({ grantId: GRANT, sub: 'u_1', clientId: 'c_test', iat: 0 }), true);
    assert.equal(store.claims.has(refreshTokenClaimId({ grantId: GRANT, generation: 1 })), false, 'the current token was refused, not spent');
    assert.equal(refreshTokens.open(second.refreshToken!)?.payload.generation, 1);
    const [event] = audit.ofType('oauth.refresh_token.reused');
    assert.equal(audit.ofType('oauth.refresh_token.reused').length, 1);
    assert.equal(event?.data.grant_id, GRANT);
    assert.ok(!JSON.stringify(event).includes(token));
  });

  it('finding 4: a reuse whose revocation record fails still ends the family, reported once, and the claim completes the stored record', async () => {
    const { deps, store, audit, clock, token } = await setup();
    const second = await rotateRefreshToken(deps, input(token));
    // The database blips while the reuse's revocation is recorded (every retry included).
    const record = store.recordRevocation.bind(store);
    store.recordRevocation = async () => { throw new Error('database blip'); };
    assert.equal((await refusal(rotateRefreshToken(deps, input(token)))).code, 'invalid_grant');
    assert.equal(audit.ofType('oauth.refresh_token.reused').length, 1, 'reported at once, whatever failed after');
    assert.equal(store.revocations.length, 0, 'nothing stored');
    // Refused here at once (and everywhere the broadcast reaches), though not yet durable.
    assert.equal((await refusal(rotateRefreshToken(deps, input(second.refreshToken!)))).code, 'invalid_grant');
    // The database is back. This instance holds the revocation in memory, but only what is stored
    // survives a restart: the sweep completes it from the claim.
    store.recordRevocation = record;
    assert.equal(await completeDecidedRevocations({ store, recordRevocation: deps.recordRevocation, clock }), 1);
    assert.deepEqual(store.revocations.map((r) => [r.kind, r.key]), [['grant', GRANT]]);
    assert.notEqual(store.families.get(GRANT)?.revokedAt, null);
    assert.equal(await completeDecidedRevocations({ store, recordRevocation: deps.recordRevocation, clock }), 0, 'nothing left to complete');
    // A restarted instance loads the stored record and refuses the family.
    const restarted = testRevocations(clock);
    for (const r of store.revocations) restarted.record(toRevocationRecord(r));
    assert.equal((await refusal(rotateRefreshToken({ ...deps, revocations: restarted }, input(second.refreshToken!)))).code, 'invalid_grant');
    assert.equal(store.claims.has(refreshTokenClaimId({ grantId: GRANT, generation: 1 })), false, 'the current token was refused, not spent');
    assert.equal(audit.ofType('oauth.refresh_token.reused').length, 1);
  });

  it('finding 9: a spend whose database answer is lost says the token may be spent (503) and the audit trail says what happened', async () => {
    const { deps, store, audit, token } = await setup();
    // The claim lands, then the answer is lost on the way back.
    const spend = store.spendRefreshToken.bind(store);
    store.spendRefreshToken = async (...args) => {
      await spend(...args);
      throw new Error('connection reset while reading the insert reply');
    };
    const error = await refusal(rotateRefreshToken(deps, input(token)));
    assert.equal(error.code, 'temporarily_unavailable');
    assert.match(error.description, /may already have been used/);
    const [unconfirmed] = audit.ofType('oauth.refresh_token.spend_unconfirmed');
    assert.equal(unconfirmed?.data.grant_id, GRANT);
    assert.ok(!JSON.stringify(unconfirmed).includes(token));
    // The retry with the spent token is reuse, and the trail shows the unconfirmed spend before it.
    store.spendRefreshToken = spend;
    assert.equal((await refusal(rotateRefreshToken(deps, input(token)))).code, 'invalid_grant');
    assert.deepEqual(audit.events.map((e) => e.type).filter((t) => t.startsWith('oauth.refresh_token.')), ['oauth.refresh_token.spend_unconfirmed', 'oauth.refresh_token.reused']);
  });

  it('lets exactly one of concurrent refreshes with one token succeed; the rest are reuse', async () => {
    const { deps, store, audit, token } = await setup();
    const results = await Promise.allSettled(Array.from({ length: 5 }, () => rotateRefreshToken(deps, input(token))));
    assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1);
    for (const r of results) if (r.status === 'rejected') assert.equal((r.reason as OAuthError).code, 'invalid_grant');
    assert.notEqual(store.families.get(GRANT)?.revokedAt, null);
    assert.equal(audit.ofType('oauth.token.refreshed').length, 1);
    assert.equal(audit.ofType('oauth.refresh_token.reused').length, 1);
  });

  it('narrows the access token scope on request; the next token keeps the whole grant', async () => {
    const { deps, token } = await setup();
    const narrowed = await rotateRefreshToken(deps, input(token, { scope: 'read' }));
    assert.deepEqual(narrowed.scopes, ['read']);
    assert.equal(decodeJwt(narrowed.accessToken).scope, 'read');
    const full = await rotateRefreshToken(deps, input(narrowed.refreshToken!));
    assert.deepEqual(full.scopes, ['read', 'write']);
  });

  it('refuses a wider scope with invalid_scope and leaves the refresh token unspent', async () => {
    const { deps, store, token } = await setup({ scopes: ['read'] });
    assert.equal((await refusal(rotateRefreshToken(deps, input(token, { scope: 'read write' })))).code, 'invalid_scope');
    assert.equal((await refusal(rotateRefreshToken(deps, input(token, { scope: 'admin' })))).code, 'invalid_scope');
    assert.equal((await refusal(rotateRefreshToken(deps, input(token, { scope: 'bad"scope' })))).code, 'invalid_scope');
    assert.equal(store.claims.size, 0);
    const next = await rotateRefreshToken(deps, input(token));
    assert.deepEqual(next.scopes, ['read']);
  });

  it('never grants a scope the client no longer has, though the grant had it', async () => {
    const { deps, token } = await setup();
    const client = testClient({ scopes: ['read'] });
    assert.equal((await refusal(rotateRefreshToken(deps, input(token, { client, scope: 'write' })))).code, 'invalid_scope');
    const next = await rotateRefreshToken(deps, input(token, { client }));
    assert.deepEqual(next.scopes, ['read']);
  });

  it('refuses another client\u2019s refresh token without spending it or revoking the grant', async () => {
    const { deps, store, token } = await setup();
    assert.equal((await refusal(rotateRefreshToken(deps, input(token, { client: testClient({ _id: 'c_other' }) })))).code, 'invalid_grant');
    assert.equal(store.claims.size, 0);
    assert.equal(store.families.get(GRANT)?.revokedAt, null);
    assert.equal(store.revocations.length, 0);
    await rotateRefreshToken(deps, input(token));
  });

  it('refuses malformed, tampered, foreign and wrong-kind tokens without spending or revoking anything', async () => {
    const { deps, store, clock, codes, token } = await setup();
    const tampered = `${token.slice(0, 20)}${token[20] === 'A' ? 'B' : 'A'}${token.slice(21)}`;
    const payload = { grantId: GRANT, generation: 0, clientId: 'c_test', sub: 'u_1', username: 'alice', scopes: ['read', 'write'], authTime: 0, grantStartedAtMs: 0 };
    const later = addSeconds(clock.now(), 60);
    const foreign = testSealers().refreshTokens.seal(payload, later);
    // A value of another kind sealed under this very key (a code) does not open as a refresh token.
    const sameKeyOtherKind = codes.seal({
      grantId: GRANT, clientId: 'c_test', redirectUri: 'https://client.example.com/cb', redirectUriSent: true, codeChallenge: null,
      scopes: ['read'], sub: 'u_1', username: 'alice', authTime: 0, issuedAt: 0,
    }, later);
    for (const bad of ['not-a-token', tampered, token.slice(0, -3), foreign, sameKeyOtherKind, `${token}.x`]) {
      assert.equal((await refusal(rotateRefreshToken(deps, input(bad)))).code, 'invalid_grant');
    }
    assert.equal(store.claims.size, 0);
    assert.equal(store.families.get(GRANT)?.revokedAt, null);
    assert.equal(store.revocations.length, 0);
  });

  it('refuses a token of an expired family without spending it', async () => {
    const { deps, store, clock, token } = await setup();
    clock.advance(FAMILY_TTL);
    assert.equal((await refusal(rotateRefreshToken(deps, input(token)))).code, 'invalid_grant');
    assert.equal(store.claims.size, 0);
    assert.equal(store.revocations.length, 0);
  });

  it('refuses a token of a revoked grant without spending it', async () => {
    const { deps, store, clock, recordRevocation, token } = await setup();
    await recordRevocation({ kind: 'grant', key: GRANT, issuedBefore: clock.now(), expiresAt: addSeconds(clock.now(), 7200) });
    assert.equal((await refusal(rotateRefreshToken(deps, input(token)))).code, 'invalid_grant');
    assert.equal(store.claims.size, 0);
  });

  it('refuses grants the owner withdrew from the client before the cut-off, not a grant begun after it', async () => {
    const { deps, refreshTokens, clock, recordRevocation, token } = await setup();
    clock.advance(5);
    await recordRevocation({ kind: 'subject_client', key: subjectClientKey('u_1', 'c_test'), issuedBefore: clock.now(), expiresAt: addSeconds(clock.now(), 7200) });
    assert.equal((await refusal(rotateRefreshToken(deps, input(token)))).code, 'invalid_grant');
    // The owner approves the client again: a new grant, begun after the cut-off.
    clock.advance(5);
    const now = clock.now();
    const regranted = firstRefreshToken(refreshTokens, { grantId: 'H'.repeat(22), clientId: 'c_test', sub: 'u_1', username: 'alice', scopes: ['read'], authTime: epochSeconds(now), grantStartedAtMs: now.getTime() }, addSeconds(now, FAMILY_TTL));
    assert.deepEqual((await rotateRefreshToken(deps, input(regranted))).scopes, ['read']);
  });

  it('refuses a client without the refresh_token grant with unauthorized_client', async () => {
    const { deps, token } = await setup();
    const error = await refusal(rotateRefreshToken(deps, input(token, { client: testClient({ grantTypes: ['authorization_code'] }) })));
    assert.equal(error.code, 'unauthorized_client');
  });

  it('requires the refresh_token parameter', async () => {
    const { deps } = await setup();
    assert.equal((await refusal(rotateRefreshToken(deps, { client: testClient(), refreshToken: undefined, scope: undefined }))).code, 'invalid_request');
  });
});

describe('parseRequestedScope', () => {
  it('parses the scope parameter per RFC 6749 §3.3', () => {
    assert.equal(parseRequestedScope(undefined), undefined);
    assert.deepEqual(parseRequestedScope('a b a'), ['a', 'b']);
    assert.throws(() => parseRequestedScope('a  b'));
  });
});
