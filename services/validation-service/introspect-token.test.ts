import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import { SignJWT, generateKeyPair, type CryptoKey } from 'jose';
import { sha256 } from '#shared/crypto.ts';
import type { ClientDoc } from '#shared/reference-data/clients.ts';
import { introspectToken, type Deps } from './introspect-token.ts';
import type { RefreshFamilyView } from './store.ts';

const ISSUER = 'https://id.example.com';
const T0 = Date.parse('2030-01-01T00:00:00Z');
const NOW_S = T0 / 1000;

let signer: CryptoKey;
let verifier: CryptoKey;
before(async () => {
  ({ privateKey: signer, publicKey: verifier } = await generateKeyPair('ES256'));
});

const caller = { _id: 'c1' } as ClientDoc;
const refreshToken = 'fam1.secretpart';
const family = (over: Partial<RefreshFamilyView> = {}): RefreshFamilyView => ({
  _id: 'fam1', currentHash: sha256(refreshToken), clientId: 'c1', sub: 'u1', username: 'alice', scopes: ['orders.read', 'profile'],
  createdAt: new Date(T0 - 1000), expiresAt: new Date(T0 + 3600_000), revokedAt: null, ...over,
});

function deps(families: RefreshFamilyView[] = [family()]): Deps {
  return {
    keys: { current: () => verifier, find: async () => verifier },
    revocations: { isRevoked: () => false },
    cache: undefined,
    clock: { now: () => new Date(T0) },
    issuer: ISSUER,
    audience: ISSUER,
    user: (sub) => (sub === 'u1' ? { _id: 'u1', username: 'alice', groups: [], createdAt: new Date(0) } : undefined),
    findUser: async () => undefined,
    findRefreshFamily: async (id) => families.find((f) => f._id === id) ?? null,
  };
}

describe('introspectToken', () => {
  it('reports an active access token with its owner\u2019s username', async () => {
    const jwt = await new SignJWT({ iss: ISSUER, sub: 'u1', aud: ISSUER, client_id: 'c2', scope: 'orders.read', exp: NOW_S + 60, iat: NOW_S, jti: 'j1' })
      .setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', kid: 'k1' }).sign(signer);
    const result = await introspectToken(deps(), caller, jwt);
    assert.ok(result.active && result.tokenType === 'access_token');
    assert.equal(result.username, 'alice');
    assert.equal(result.token.clientId, 'c2', 'any authenticated client may introspect an access token');
  });

  it('reports the family\u2019s current refresh token to the client it was issued to', async () => {
    const { revokedAt: _absent, ...asStored } = family();
    assert.equal((await introspectToken(deps([asStored]), caller, refreshToken)).active, true, 'revokedAt may be absent rather than null');
    assert.deepEqual(await introspectToken(deps(), caller, refreshToken), {
      active: true, tokenType: 'refresh_token', clientId: 'c1', sub: 'u1', username: 'alice', scope: 'orders.read profile', exp: NOW_S + 3600, iat: NOW_S - 1,
    });
  });

  it('reports inactive: a rotated-out, revoked, expired, unknown or another client\u2019s refresh token, and garbage', async () => {
    const inactive = { active: false };
    assert.deepEqual(await introspectToken(deps([family({ currentHash: sha256('fam1.newer') })]), caller, refreshToken), inactive);
    assert.deepEqual(await introspectToken(deps([family({ revokedAt: new Date(T0) })]), caller, refreshToken), inactive);
    assert.deepEqual(await introspectToken(deps([family({ currentHash: null })]), caller, refreshToken), inactive);
    assert.deepEqual(await introspectToken(deps([family({ currentHash: undefined })]), caller, refreshToken), inactive);
    assert.deepEqual(await introspectToken(deps([family({ expiresAt: new Date(T0) })]), caller, refreshToken), inactive);
    assert.deepEqual(await introspectToken(deps([]), caller, refreshToken), inactive);
    assert.deepEqual(await introspectToken(deps(), { _id: 'c2' } as ClientDoc, refreshToken), inactive);
    for (const garbage of ['garbage', '.x', 'a.b.c', 'fam1', 'a b.c', 'fam1.secretpart2']) {
      assert.deepEqual(await introspectToken(deps(), caller, garbage), inactive, garbage);
    }
  });
});
