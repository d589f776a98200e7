import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { decodeJwt, decodeProtectedHeader } from 'jose';
import type { AuthorizationCodePayload } from '#shared/grants/authorization-codes.ts';
import { createSealer } from '#shared/grants/sealed-state.ts';
import { addSeconds, epochSeconds } from '#shared/clock.ts';
import { verifyAccessToken } from '#shared/access-tokens/verify-access-token.ts';
import { subjectClientKey } from '#shared/grants/revocation-feed.ts';
import { sha256 } from '#shared/crypto.ts';
import type { OAuthError } from '#shared/oauth-error.ts';
import { clientGetsRefreshTokens, type ClientDoc } from '#shared/reference-data/clients.ts';
import { revocableRefreshToken } from '#shared/grants/refresh-tokens.ts';
import { redeemCode, type Deps, type RedeemCodeInput } from './redeem-code.ts';
import type { MemoryStore } from './test-doubles.ts';
import { recordRevocationInto, refusal, testClient, testKeys, testRevocations, testSealers, testWorld } from './test-doubles.ts';

const GRANT = 'g'.repeat(22);
const VERIFIER = 'v'.repeat(43);
const REDIRECT = 'https://client.example.com/cb';
const CODE_TTL = 60;

async function setup(codeOverrides: Partial<AuthorizationCodePayload> = {}) {
  const kek = randomBytes(32);
  const { store, clock, audit, revocations } = testWorld();
  const { codes, refreshTokens } = testSealers(kek);
  const now = clock.now();
  const payload: AuthorizationCodePayload = {
    grantId: GRANT, clientId: 'c_test', redirectUri: REDIRECT, redirectUriSent: true, codeChallenge: sha256(VERIFIER),
    scopes: ['read'], sub: 'u_1', username: 'alice', authTime: epochSeconds(now) - 30, issuedAt: now.getTime() - 2000, ...codeOverrides,
  };
  const code = codes.seal(payload, addSeconds(now, CODE_TTL));
  /** The same code as an authorize-service of the earlier release sealed it (during an upgrade). */
  const earlierKindCode = createSealer<AuthorizationCodePayload>(kek, 'authorization-code').seal(payload, addSeconds(now, CODE_TTL));
  const deps: Deps = {
    store, codes, refreshTokens, revocations, clock, audit,
    tokens: { keys: await testKeys(), issuer: 'https://as.example.com', audience: 'https://as.example.com' },
    recordRevocation: recordRevocationInto(store, revocations, clock),
  };
  const input = (overrides: Partial<RedeemCodeInput> = {}): RedeemCodeInput =>
    ({ client: testClient(), code, redirectUri: REDIRECT, codeVerifier: VERIFIER, ...overrides });
  return { deps, store, clock, audit, revocations, codes, refreshTokens, code, earlierKindCode, input };
}

const noRefresh = () => testClient({ grantTypes: ['authorization_code'] });


/** True when nothing records the code as redeemed, replayed or revoked. */
function untouched(store: MemoryStore): boolean {
  return store.claims.size === 0 && store.families.size === 0 && store.revocations.length === 0;
}

describe('redeemCode', () => {
  it('issues an RFC 9068 access token and the grant\u2019s first sealed refresh token, and stores the family', async () => {
    const { deps, store, clock, audit, refreshTokens, input } = await setup();
    const now = clock.now();
    const result = await redeemCode(deps, input());
    assert.deepEqual(decodeProtectedHeader(result.accessToken), { alg: 'ES256', typ: 'at+jwt', kid: 'test-kid' });
    const claims = decodeJwt(result.accessToken);
    assert.equal(claims.sub, 'u_1');
    assert.equal(claims.client_id, 'c_test');
    assert.equal(claims.scope, 'read');
    assert.equal(claims.gid, GRANT);
    assert.equal(claims.auth_time, epochSeconds(now) - 30);
    assert.equal((claims.exp ?? 0) - (claims.iat ?? 0), 600);
    assert.deepEqual(result.scopes, ['read']);
    // Generation 0 of the grant, carrying what the grant allows; it expires with the family.
    const familyExpiresAt = addSeconds(now, testClient().refreshTokenTtlSeconds);
    const opened = refreshTokens.open(result.refreshToken!)!;
    const { grantStartedAtMs: _startedAt, ...payload } = opened.payload;
    assert.deepEqual(payload, { grantId: GRANT, generation: 0, clientId: 'c_test', sub: 'u_1', username: 'alice', scopes: ['read'], authTime: epochSeconds(now) - 30 });
    assert.equal(opened.expiresAt.getTime(), familyExpiresAt.getTime());
    // The grant begins when the owner approved it (not when the code is redeemed): what a later
    // withdrawal of consent is compared with, so a code approved before it is covered by it.
    assert.equal(revocableRefreshToken(opened).iatMs, now.getTime() - 2000);
    const family = store.families.get(GRANT)!;
    assert.equal(family.expiresAt.getTime(), familyExpiresAt.getTime());
    assert.equal(family.revokedAt, null);
    assert.deepEqual([family.sub, family.clientId, family.scopes], ['u_1', 'c_test', ['read']]);
    assert.deepEqual([...store.claims.keys()], [], 'the family\u2019s insert is the code\u2019s claim: nothing else is written');
    assert.equal(audit.ofType('oauth.token.issued').length, 1);
    assert.equal(audit.ofType('oauth.token.issued')[0]!.data.jti, claims.jti);
  });

  it('finding 5: a code redeemed while the owner\u2019s consent withdrawal is still on its way yields tokens that withdrawal covers', async () => {
    const { deps, clock, input } = await setup();
    const keys = deps.tokens.keys as Awaited<ReturnType<typeof testKeys>>;
    // The owner approved 2 s ago; this instance has not yet heard of the withdrawal made 1 s ago.
    const withdrawnAt = addSeconds(clock.now(), -1);
    clock.advance(3);
    const result = await redeemCode(deps, input());
    // The withdrawal's broadcast arrives: a subject_client cut-off before this redemption.
    const elsewhere = testRevocations(clock);
    elsewhere.record({ kind: 'subject_client', key: subjectClientKey('u_1', 'c_test'), issuedBeforeMs: withdrawnAt.getTime(), expiresAtMs: clock.now().getTime() + 3_600_000 });
    const verify = {
      keys: { current: () => keys.publicKey, find: async () => keys.publicKey }, revocations: elsewhere, cache: undefined, clock,
      issuer: 'https://as.example.com', audience: 'https://as.example.com',
    };
    assert.equal(await verifyAccessToken(verify, result.accessToken), undefined, 'the access token minted after the withdrawal is inactive');
    assert.equal(elsewhere.isRevoked(revocableRefreshToken(deps.refreshTokens.open(result.refreshToken!)!)), true, 'and so is its refresh token');
    // A grant approved after the withdrawal is not covered.
    const later = testRevocations(clock);
    later.record({ kind: 'subject_client', key: subjectClientKey('u_1', 'c_test'), issuedBeforeMs: clock.now().getTime() - 60_000, expiresAtMs: clock.now().getTime() + 3_600_000 });
    assert.ok(await verifyAccessToken({ ...verify, revocations: later }, result.accessToken));
  });

  it('answers only once the oauth.token.issued event is safe (acked by JetStream or in the outbox)', async () => {
    const { deps, audit, input } = await setup();
    const release = audit.hold();
    let answered = false;
    const redeeming = redeemCode(deps, input()).then(() => (answered = true));
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(audit.ofType('oauth.token.issued').length, 1, 'the event is emitted');
    assert.equal(answered, false, 'no tokens leave while their event could still be lost');
    release();
    await redeeming;
  });

  it('gives no refresh token to a client not set to get them, and claims the code by a family stored closed, kept a day past the code\u2019s expiry', async () => {
    const { deps, store, clock, input } = await setup();
    const result = await redeemCode(deps, input({ client: noRefresh() }));
    assert.equal(result.refreshToken, undefined);
    const family = store.families.get(GRANT)!;
    assert.equal(family.revokedAt?.getTime(), clock.now().getTime(), 'closed: no refresh token can be spent on it, listings of live grants skip it');
    assert.equal(family.claimOnly, true, 'only the claim: no grant the admin CLI revokes by id');
    // Kept past the code's expiry so that a late replay is still recognised.
    assert.equal(family.expiresAt.getTime(), addSeconds(clock.now(), CODE_TTL + 86_400).getTime());
    assert.equal(store.claims.size, 0);
  });

  it('keeps the family a day past its code\u2019s expiry when the client\u2019s refresh tokens live shorter: the claim never goes before the code', async () => {
    const { deps, store, clock, input } = await setup();
    await redeemCode(deps, input({ client: testClient({ refreshTokenTtlSeconds: 300 }) }));
    assert.equal(store.families.get(GRANT)!.expiresAt.getTime(), addSeconds(clock.now(), CODE_TTL + 86_400).getTime());
  });

  it('blocks the family of a replayed code for as long as the code\u2019s claim, when the client\u2019s refresh tokens live shorter', async () => {
    const { deps, store, clock, earlierKindCode, input } = await setup();
    const client = testClient({ refreshTokenTtlSeconds: 300 });
    // An earlier-kind code's winning redemption has claimed `code:<grant>` and not yet stored its family: a replay blocks it.
    await store.claimCode(GRANT, addSeconds(clock.now(), CODE_TTL), clock.now());
    await refusal(redeemCode(deps, input({ client, code: earlierKindCode })));
    const blocked = store.families.get(GRANT)!;
    assert.notEqual(blocked.revokedAt, null);
    assert.equal(blocked.expiresAt.getTime(), addSeconds(clock.now(), CODE_TTL + 86_400).getTime());
  });

  it('blocks a replayed grant without refresh tokens as only its code\u2019s claim: its revocation is sized by the access token', async () => {
    const { deps, store, clock, earlierKindCode, input } = await setup();
    await store.claimCode(GRANT, addSeconds(clock.now(), CODE_TTL), clock.now());
    await refusal(redeemCode(deps, input({ client: noRefresh(), code: earlierKindCode })));
    assert.equal(store.families.get(GRANT)?.claimOnly, true);
    await refusal(redeemCode(deps, input({ client: noRefresh(), code: earlierKindCode })));
    for (const record of store.revocations) assert.ok(record.expiresAt < addSeconds(clock.now(), 3600), 'not for 30 days of refresh tokens that never were');
  });

  it('claims a code of the earlier kind (sealed by an earlier release) by its grant id and then the family, as that release did', async () => {
    for (const client of [testClient(), noRefresh()]) {
      const { deps, store, earlierKindCode, input } = await setup();
      const result = await redeemCode(deps, input({ client, code: earlierKindCode }));
      assert.equal(result.refreshToken !== undefined, clientGetsRefreshTokens(client));
      assert.deepEqual([...store.claims.keys()], [`code:${GRANT}`]);
      assert.ok(store.families.has(GRANT));
      assert.equal((await refusal(redeemCode(deps, input({ client, code: earlierKindCode })))).code, 'invalid_grant');
    }
  });

  it('redeems a grant once when codes of both kinds race for it (an upgrade: a decision retried across releases)', async () => {
    for (const client of [testClient(), noRefresh()]) {
      const { deps, audit, code, earlierKindCode, input } = await setup();
      const presented = [code, earlierKindCode, code, earlierKindCode, earlierKindCode, code];
      const results = await Promise.allSettled(presented.map((c) => redeemCode(deps, input({ client, code: c }))));
      assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1, client.grantTypes.join(','));
      assert.equal(audit.ofType('oauth.token.issued').length, 1);
    }
  });

  it('refuses a client without the authorization_code grant with unauthorized_client', async () => {
    const { deps, input } = await setup();
    const error = await refusal(redeemCode(deps, input({ client: testClient({ grantTypes: ['refresh_token'] as ClientDoc['grantTypes'] }) })));
    assert.equal(error.code, 'unauthorized_client');
  });

  it('refuses a replayed code, revokes the grant once (its refresh tokens included), and reports it once', async () => {
    const { deps, store, audit, revocations, refreshTokens, input } = await setup();
    const first = await redeemCode(deps, input());
    for (let i = 0; i < 3; i++) assert.equal((await refusal(redeemCode(deps, input()))).code, 'invalid_grant');
    const family = store.families.get(GRANT)!;
    assert.notEqual(family.revokedAt, null);
    // Each replay records the grant's revocation again (idempotent in the store).
    const records = store.revocations.filter((r) => r.kind === 'grant' && r.key === GRANT);
    assert.ok(records.length >= 1);
    // Refresh tokens are sealed: the grant record refuses them, so it must outlive the family.
    for (const record of records) assert.ok(record.expiresAt >= family.expiresAt);
    assert.equal(revocations.isRevoked(revocableRefreshToken(refreshTokens.open(first.refreshToken!)!)), true);
    assert.equal(audit.ofType('oauth.code.replayed').length, 1);
    assert.equal(audit.ofType('oauth.code.replayed')[0]!.data.grant_id, GRANT);
  });

  it('lets exactly one of concurrent redemptions succeed; the others are replays that revoke the grant once', async () => {
    const { deps, store, audit, input } = await setup();
    const results = await Promise.allSettled(Array.from({ length: 5 }, () => redeemCode(deps, input())));
    assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1);
    for (const r of results) if (r.status === 'rejected') assert.equal((r.reason as OAuthError).code, 'invalid_grant');
    assert.notEqual(store.families.get(GRANT)?.revokedAt, null);
    assert.equal(audit.ofType('oauth.token.issued').length, 1);
    assert.equal(audit.ofType('oauth.code.replayed').length, 1);
  });

  it('revokes the access tokens of a grant without refresh tokens on replay, and blocks its family so it can never become live', async () => {
    const { deps, store, clock, audit, input } = await setup();
    await redeemCode(deps, input({ client: noRefresh() }));
    await refusal(redeemCode(deps, input({ client: noRefresh() })));
    const [record] = store.revocations;
    assert.deepEqual([record?.kind, record?.key], ['grant', GRANT]);
    assert.ok(record!.expiresAt > addSeconds(clock.now(), 600), 'until its last access token has expired');
    assert.ok(record!.expiresAt < addSeconds(clock.now(), 3600), 'and not as long as the code\u2019s claim: that is no family of refresh tokens');
    assert.notEqual(store.families.get(GRANT)?.revokedAt, null);
    assert.equal(await store.createFamily({ ...store.families.get(GRANT)!, revokedAt: null }), false);
    assert.equal(audit.ofType('oauth.code.replayed').length, 1);
  });

  it('honours an owner who withdrew consent between approval and redemption: nothing issued, nothing consumed', async () => {
    const { deps, store, clock, input } = await setup();
    // The cut-off falls after the approval (2 s before now) and before the redemption.
    await deps.recordRevocation({ kind: 'subject_client', key: subjectClientKey('u_1', 'c_test'), issuedBefore: addSeconds(clock.now(), -1), expiresAt: addSeconds(clock.now(), 86_400) });
    const recorded = store.revocations.length;
    assert.equal((await refusal(redeemCode(deps, input()))).code, 'invalid_grant');
    assert.equal(store.claims.size + store.families.size, 0);
    assert.equal(store.revocations.length, recorded);
  });

  it('starts the grant at the approval, so a later cut-off covers its refresh tokens', async () => {
    const { deps, clock, revocations, input } = await setup();
    const result = await redeemCode(deps, input());
    const opened = deps.refreshTokens.open(result.refreshToken!)!;
    await deps.recordRevocation({ kind: 'subject_client', key: subjectClientKey('u_1', 'c_test'), issuedBefore: addSeconds(clock.now(), -1), expiresAt: addSeconds(clock.now(), 86_400) });
    assert.equal(revocations.isRevoked(revocableRefreshToken(opened)), true, 'approved 2 s ago, before the cut-off');
  });

  it('revokes a replayed grant for as long as its stored family lives, whatever the client\u2019s settings are now', async () => {
    const { deps, store, input } = await setup();
    await redeemCode(deps, input());
    const familyExpiresAt = store.families.get(GRANT)!.expiresAt;
    await refusal(redeemCode(deps, input({ client: testClient({ grantTypes: ['authorization_code'], refreshTokenTtlSeconds: 60 }) })));
    const record = store.revocations.find((r) => r.kind === 'grant' && r.key === GRANT);
    assert.ok(record && record.expiresAt >= familyExpiresAt, 'the grant record outlives the family stored at redemption');
  });

  it('redeems a code once even when the client\u2019s refresh token setting changes while it is out', async () => {
    const { deps, input } = await setup();
    await redeemCode(deps, input({ client: noRefresh() }));
    await refusal(redeemCode(deps, input()));
    const { deps: deps2, input: input2 } = await setup();
    await redeemCode(deps2, input2());
    await refusal(redeemCode(deps2, input2({ client: noRefresh() })));
  });

  it('completes a replay\u2019s revocation on the next replay when the first was cut short, and reports it once', async () => {
    const { deps, store, audit, input } = await setup();
    await redeemCode(deps, input());
    const revokeOrBlockFamily = store.revokeOrBlockFamily.bind(store);
    store.revokeOrBlockFamily = async () => { throw new Error('database blip'); };
    await assert.rejects(redeemCode(deps, input()), /database blip/);
    store.revokeOrBlockFamily = revokeOrBlockFamily;
    await refusal(redeemCode(deps, input()));
    assert.notEqual(store.families.get(GRANT)?.revokedAt, null, 'the grant is revoked by the second replay');
    assert.ok(store.revocations.some((r) => r.kind === 'grant' && r.key === GRANT));
    assert.equal(audit.ofType('oauth.code.replayed').length, 1);
  });

  it('treats a used code as a replay even when the new request also fails a check', async () => {
    const { deps, store, audit, input } = await setup();
    await redeemCode(deps, input());
    assert.equal((await refusal(redeemCode(deps, input({ codeVerifier: 'w'.repeat(43) })))).code, 'invalid_grant');
    assert.notEqual(store.families.get(GRANT)?.revokedAt, null);
    assert.equal(audit.ofType('oauth.code.replayed').length, 1);
  });

  it('treats a used code presented after its expiry as a replay', async () => {
    const { deps, store, clock, audit, input } = await setup();
    await redeemCode(deps, input());
    clock.advance(CODE_TTL);
    assert.equal((await refusal(redeemCode(deps, input()))).code, 'invalid_grant');
    assert.notEqual(store.families.get(GRANT)?.revokedAt, null);
    assert.equal(audit.ofType('oauth.code.replayed').length, 1);
  });

  it('refuses an expired code without consuming it', async () => {
    const { deps, store, clock, input } = await setup();
    clock.advance(CODE_TTL);
    assert.equal((await refusal(redeemCode(deps, input()))).code, 'invalid_grant');
    assert.ok(untouched(store));
  });

  it('refuses anything that is not a code sealed here: garbage, tampered, another key\u2019s, a refresh token', async () => {
    const { deps, store, code, refreshTokens, clock, input } = await setup();
    const tampered = `${code.slice(0, 20)}${code[20] === 'A' ? 'B' : 'A'}${code.slice(21)}`;
    const foreign = testSealers().codes.seal({
      grantId: GRANT, clientId: 'c_test', redirectUri: REDIRECT, redirectUriSent: true, codeChallenge: sha256(VERIFIER),
      scopes: ['read'], sub: 'u_1', username: 'alice', authTime: 0, issuedAt: 0,
    }, addSeconds(clock.now(), CODE_TTL));
    // Same key, other kind: a refresh token never opens as a code.
    const refreshToken = refreshTokens.seal({ grantId: GRANT, generation: 0, clientId: 'c_test', sub: 'u_1', username: 'alice', scopes: ['read'], authTime: 0, grantStartedAtMs: 0 }, addSeconds(clock.now(), 60));
    for (const unknown of ['x'.repeat(43), tampered, code.slice(0, -2), foreign, refreshToken]) {
      assert.equal((await refusal(redeemCode(deps, input({ code: unknown })))).code, 'invalid_grant');
    }
    assert.ok(untouched(store));
    await redeemCode(deps, input());
  });

  it('refuses another client\u2019s code without consuming it', async () => {
    const { deps, store, input } = await setup();
    assert.equal((await refusal(redeemCode(deps, input({ client: testClient({ _id: 'c_other' }) })))).code, 'invalid_grant');
    assert.ok(untouched(store));
    await redeemCode(deps, input());
  });

  it('leaves the grant alone when another client presents a used code: only its own client can replay it', async () => {
    const { deps, store, audit, input } = await setup();
    await redeemCode(deps, input());
    await refusal(redeemCode(deps, input({ client: testClient({ _id: 'c_other' }) })));
    assert.equal(store.families.get(GRANT)?.revokedAt, null);
    assert.equal(audit.ofType('oauth.code.replayed').length, 0);
  });

  it('refuses PKCE failures without consuming the code', async () => {
    const { deps, store, input } = await setup();
    for (const codeVerifier of ['w'.repeat(43), undefined, 'short', 'v'.repeat(42) + '!']) {
      assert.equal((await refusal(redeemCode(deps, input({ codeVerifier })))).code, 'invalid_grant');
    }
    assert.ok(untouched(store));
    await redeemCode(deps, input());
  });

  it('refuses a code_verifier for a code issued without a challenge (PKCE downgrade)', async () => {
    const { deps, store, input } = await setup({ codeChallenge: null });
    assert.equal((await refusal(redeemCode(deps, input()))).code, 'invalid_grant');
    assert.ok(untouched(store));
    await redeemCode(deps, input({ codeVerifier: undefined }));
  });

  it('requires PKCE from public clients', async () => {
    const { deps, input } = await setup({ codeChallenge: null });
    const error = await refusal(redeemCode(deps, input({ client: testClient({ type: 'public' }), codeVerifier: undefined })));
    assert.equal(error.code, 'invalid_grant');
  });

  it('requires the identical redirect_uri when the authorization request sent one', async () => {
    const { deps, store, input } = await setup();
    for (const redirectUri of [undefined, `${REDIRECT}/`, REDIRECT.toUpperCase()]) {
      assert.equal((await refusal(redeemCode(deps, input({ redirectUri })))).code, 'invalid_grant');
    }
    assert.ok(untouched(store));
    await redeemCode(deps, input());
  });

  it('accepts a missing redirect_uri when the authorization request left it out, but checks one that is sent', async () => {
    const { deps, input } = await setup({ redirectUriSent: false });
    assert.equal((await refusal(redeemCode(deps, input({ redirectUri: 'https://evil.example.com/cb' })))).code, 'invalid_grant');
    await redeemCode(deps, input({ redirectUri: undefined }));
  });

  it('requires the code parameter', async () => {
    const { deps, input } = await setup();
    assert.equal((await refusal(redeemCode(deps, input({ code: undefined })))).code, 'invalid_request');
  });
});
