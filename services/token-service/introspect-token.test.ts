import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import { SignJWT, generateKeyPair, type CryptoKey } from 'jose';
import { randomBytes } from 'node:crypto';
import { refreshTokenClaimId, refreshTokenSealer, type RefreshTokenPayload } from '#shared/grants/refresh-tokens.ts';
import { isOAuthError } from '#shared/oauth-error.ts';
import type { ClientDoc } from '#shared/reference-data/clients.ts';
import { introspectToken as introspect, type Deps, type Introspection } from './introspect-token.ts';

const ISSUER = 'https://id.example.com';
const T0 = Date.parse('2030-01-01T00:00:00Z');
const NOW_S = T0 / 1000;

let signer: CryptoKey;
let verifier: CryptoKey;
before(async () => {
  ({ privateKey: signer, publicKey: verifier } = await generateKeyPair('ES256'));
});

const caller = { _id: 'c1' } as ClientDoc;
const refreshTokens = refreshTokenSealer(randomBytes(32));
const grant: RefreshTokenPayload = { grantId: 'fam1', generation: 3, clientId: 'c1', sub: 'u1', username: 'alice', scopes: ['orders.read', 'profile'], authTime: NOW_S - 5, grantStartedAtMs: T0 - 1000 };
const sealRefresh = (over: Partial<RefreshTokenPayload> = {}, expiresAt = new Date(T0 + 3600_000)) => refreshTokens.seal({ ...grant, ...over }, expiresAt);
const refreshToken = sealRefresh();

function deps(options: { spent?: string[]; revokedGrants?: string[] } = {}): Deps {
  return {
    keys: { current: () => verifier, find: async () => verifier },
    revocations: { isRevoked: (t) => t.grantId !== undefined && (options.revokedGrants ?? []).includes(t.grantId) },
    cache: undefined,
    clock: { now: () => new Date(T0) },
    issuer: ISSUER,
    audience: ISSUER,
    user: (sub) => (sub === 'u1' ? { _id: 'u1', username: 'alice', groups: [], createdAt: new Date(0) } : undefined),
    findUser: async () => undefined,
    refreshTokens,
    store: { refreshTokenSpent: async (token) => (options.spent ?? []).includes(refreshTokenClaimId(token)) },
  };
}

/** As a confidential client authenticated with a secret. */
const introspectToken = (d: Deps, client: ClientDoc, token: string): Promise<Introspection> =>
  introspect(d, { client, method: 'client_secret_basic', token });

describe('introspectToken', () => {
  it('refuses a public client (invalid_client) and a request without a token (invalid_request)', async () => {
    await assert.rejects(introspect(deps(), { client: caller, method: 'none', token: refreshToken }), (e) => isOAuthError(e) && e.code === 'invalid_client');
    await assert.rejects(introspect(deps(), { client: caller, method: 'client_secret_post', token: undefined }), (e) => isOAuthError(e) && e.code === 'invalid_request');
  });

  it('reports a value longer than any token it issues as inactive, not as an error', async () => {
    assert.deepEqual(await introspectToken(deps(), caller, 'x'.repeat(9000)), { active: false });
  });

  it('reports an active access token with its owner\u2019s username', async () => {
    const jwt = await new SignJWT({ iss: ISSUER, sub: 'u1', aud: ISSUER, client_id: 'c2', scope: 'orders.read', exp: NOW_S + 60, iat: NOW_S, jti: 'j1' })
      .setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', kid: 'k1' }).sign(signer);
    const result = await introspectToken(deps(), caller, jwt);
    assert.ok(result.active && result.tokenType === 'access_token');
    assert.equal(result.username, 'alice');
    assert.equal(result.token.clientId, 'c2', 'any authenticated client may introspect an access token');
  });

  it('reports an unspent refresh token to the client it was issued to', async () => {
    assert.deepEqual(await introspectToken(deps({ spent: ['refresh:fam1:2'] }), caller, refreshToken), {
      active: true, tokenType: 'refresh_token', clientId: 'c1', sub: 'u1', username: 'alice', scope: 'orders.read profile', exp: NOW_S + 3600, iat: NOW_S - 1,
    });
  });

  it('reports inactive: a rotated-out, revoked, expired, forged or another client\u2019s refresh token, and garbage', async () => {
    const inactive = { active: false };
    assert.deepEqual(await introspectToken(deps({ spent: ['refresh:fam1:3'] }), caller, refreshToken), inactive, 'spent (rotated out)');
    assert.deepEqual(await introspectToken(deps({ revokedGrants: ['fam1'] }), caller, refreshToken), inactive, 'grant revoked');
    assert.deepEqual(await introspectToken(deps(), caller, sealRefresh({}, new Date(T0))), inactive, 'expired');
    assert.deepEqual(await introspectToken(deps(), { _id: 'c2' } as ClientDoc, refreshToken), inactive, 'another client');
    const forged = refreshTokenSealer(randomBytes(32)).seal(grant, new Date(T0 + 3600_000));
    assert.deepEqual(await introspectToken(deps(), caller, forged), inactive, 'sealed under another key');
    for (const garbage of ['garbage', '.x', 'a.b.c', 'fam1', 'a b.c', `${refreshToken}x`, refreshToken.slice(0, -2)]) {
      assert.deepEqual(await introspectToken(deps(), caller, garbage), inactive, garbage.slice(0, 20));
    }
  });
});
