import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import { SignJWT, calculateJwkThumbprint, exportJWK, generateKeyPair, type CryptoKey, type JWK, type JWTPayload } from 'jose';
import { accessTokenHash } from '#shared/dpop/verify-dpop-proof.ts';
import type { CachedUser } from '#shared/reference-data/reference-cache.ts';
import { ruleFor, type ResourceDoc } from '#shared/reference-data/resources.ts';
import { validateToken, type Deps } from './validate-token.ts';
import { toReply } from './nats.ts';

const ISSUER = 'https://id.example.com';
const NOW_S = Math.floor(Date.parse('2030-01-01T00:00:00Z') / 1000);

let signer: CryptoKey;
let verifier: CryptoKey;
before(async () => {
  ({ privateKey: signer, publicKey: verifier } = await generateKeyPair('ES256'));
});

const alice: CachedUser = { _id: 'u1', username: 'alice', groups: ['staff'], createdAt: new Date(0) };
const rules: ResourceDoc[] = [
  { _id: '/orders/*', scopes: ['orders.read'], groups: [], createdAt: new Date(0) },
  { _id: '/admin/*', scopes: ['orders.read'], groups: ['admins'], createdAt: new Date(0) },
  { _id: '/staff/*', scopes: ['orders.read'], groups: ['admins', 'staff'], createdAt: new Date(0) },
  { _id: '/billing', scopes: ['billing.read'], groups: [], createdAt: new Date(0) },
];

function deps(users: CachedUser[] = [alice]): Deps & { userLookups: string[] } {
  const userLookups: string[] = [];
  return {
    userLookups,
    keys: { current: (kid) => (kid === 'k1' ? verifier : undefined), find: async (kid) => (kid === 'k1' ? verifier : undefined) },
    revocations: { isRevoked: () => false },
    cache: undefined,
    clock: { now: () => new Date(NOW_S * 1000) },
    issuer: ISSUER,
    audience: ISSUER,
    user: () => undefined,
    findUser: async (sub) => {
      userLookups.push(sub);
      return users.find((u) => u._id === sub);
    },
    findResourceRule: async (resource) => ruleFor(rules, resource),
    dpop: { clock: { now: () => new Date(NOW_S * 1000) }, firstUse: async (id) => (seenProofs.has(id) ? false : (seenProofs.add(id), true)) },
  };
}
const seenProofs = new Set<string>();

const sign = (over: JWTPayload = {}) => new SignJWT({
  iss: ISSUER, sub: 'u1', aud: ISSUER, client_id: 'c1', scope: 'orders.read profile', exp: NOW_S + 600, iat: NOW_S, jti: 'j1', gid: 'g1', ...over,
}).setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', kid: 'k1' }).sign(signer);

describe('validateToken', () => {
  it('allows an active token with no requirements, and names its owner', async () => {
    const d = deps();
    const result = await validateToken(d, { token: await sign() });
    assert.equal(result.active && result.allowed, true);
    assert.equal(result.active && result.user?.username, 'alice');
    assert.deepEqual(d.userLookups, ['u1'], 'a user missing from the cache is looked up');
  });

  it('refuses a token whose aud does not name the asking audience as invalid_token (RFC 8707)', async () => {
    const d = { ...deps(), findResourceServer: async (uri: string) => (uri === 'https://api.example.com/' ? {} : undefined) };
    const token = await sign({ aud: 'https://api.example.com/' });
    const good = await validateToken(d, { token, audience: 'https://api.example.com/' });
    assert.equal(good.active && good.allowed, true);
    const bad = await validateToken(d, { token, audience: 'https://files.example.com/' });
    assert.equal(bad.active && !bad.allowed && bad.error, 'invalid_token');
    assert.equal(toReply(bad).error, 'invalid_token');
    const plain = await validateToken(d, { token: await sign(), audience: 'https://api.example.com/' });
    assert.equal(plain.active && !plain.allowed && plain.error, 'invalid_token', 'a token without resource indicators is for the default audience only');
  });

  it('a client\u2019s own token (client credentials): no owner looked up or named, and a rule naming groups never admits it', async () => {
    // A user whose id happens to equal the client_id must not lend it a username or groups.
    const d = deps([alice, { _id: 'c1', username: 'impostor', groups: ['admins', 'staff'], createdAt: new Date(0) }]);
    const token = await sign({ sub: 'c1', gid: undefined });
    const open = await validateToken(d, { token, resource: '/orders/1' });
    assert.equal(open.active && open.allowed, true);
    assert.equal(open.active && open.user, undefined);
    const reply = toReply(open);
    assert.equal('username' in reply, false);
    assert.deepEqual(reply.groups, []);
    for (const resource of ['/admin/x', '/staff/x']) {
      const denied = await validateToken(d, { token, resource });
      assert.ok(denied.active && !denied.allowed, resource);
      assert.equal(denied.error, 'access_denied');
    }
    assert.deepEqual(d.userLookups, [], 'nothing is looked up for a client\u2019s own token');
  });

  it('answers an inactive token with active false and nothing else', async () => {
    assert.deepEqual(await validateToken(deps(), { token: 'not.a.token' }), { active: false });
  });

  it('allows when every requested scope was granted, else insufficient_scope', async () => {
    const token = await sign();
    const ok = await validateToken(deps(), { token, scopes: ['orders.read', 'profile'] });
    assert.equal(ok.active && ok.allowed, true);
    const missing = await validateToken(deps(), { token, scopes: ['orders.read', 'orders.write'] });
    assert.ok(missing.active && !missing.allowed);
    assert.equal(missing.error, 'insufficient_scope');
  });

  it('allows a resource whose rule lists a granted scope and no groups', async () => {
    const result = await validateToken(deps(), { token: await sign(), scopes: ['orders.read'], resource: '/orders/42' });
    assert.equal(result.active && result.allowed, true);
  });

  it('denies a resource no rule covers, or whose rule lists no granted scope', async () => {
    const token = await sign();
    for (const resource of ['/nothing/here', '/billing']) {
      const result = await validateToken(deps(), { token, resource });
      assert.ok(result.active && !result.allowed, resource);
      assert.equal(result.error, 'access_denied', resource);
    }
  });

  it('admits the owner only when the rule\u2019s groups include one of theirs', async () => {
    const token = await sign();
    const staff = await validateToken(deps(), { token, resource: '/staff/report' });
    assert.equal(staff.active && staff.allowed, true);
    const admin = await validateToken(deps(), { token, resource: '/admin/users' });
    assert.ok(admin.active && !admin.allowed);
    assert.equal(admin.error, 'access_denied');
    const unknownOwner = await validateToken(deps([]), { token, resource: '/staff/report' });
    assert.ok(unknownOwner.active && !unknownOwner.allowed, 'an owner no longer known is in no group');
  });

  it('checks scopes before the resource', async () => {
    const result = await validateToken(deps(), { token: await sign(), scopes: ['orders.write'], resource: '/nothing' });
    assert.ok(result.active && !result.allowed);
    assert.equal(result.error, 'insufficient_scope');
  });
});

describe('oauth.token.validate reply', () => {
  it('carries every field for an active token', async () => {
    const reply = toReply(await validateToken(deps(), { token: await sign() }));
    assert.deepEqual(reply, {
      active: true, allowed: true, sub: 'u1', username: 'alice', client_id: 'c1', scope: 'orders.read profile',
      exp: NOW_S + 600, iat: NOW_S, jti: 'j1', aud: ISSUER, iss: ISSUER, groups: ['staff'],
    });
  });

  it('names the error when not allowed', async () => {
    const reply = toReply(await validateToken(deps(), { token: await sign(), scopes: ['x'] }));
    assert.equal(reply.allowed, false);
    assert.equal(reply.error, 'insufficient_scope');
    assert.equal(reply.active, true);
  });

  it('is exactly {active:false, allowed:false, error:invalid_token} for an inactive token', () => {
    assert.deepEqual(toReply({ active: false }), { active: false, allowed: false, error: 'invalid_token' });
  });
});

describe('validateToken with a DPoP-bound token (RFC 9449 §7)', () => {
  const API = 'https://api.example.com/orders/42';
  let holder: { privateKey: CryptoKey; jwk: JWK; jkt: string };
  before(async () => {
    const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
    const jwk = await exportJWK(publicKey);
    holder = { privateKey, jwk, jkt: await calculateJwkThumbprint(jwk) };
  });
  let n = 0;
  const proofFor = (token: string, claims: JWTPayload = {}) => new SignJWT({ jti: `p${++n}`, htm: 'GET', htu: API, iat: NOW_S, ath: accessTokenHash(token), ...claims })
    .setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk: holder.jwk }).sign(holder.privateKey);

  it('allows it with a proof by the bound key for this request, and says DPoP and the key', async () => {
    const token = await sign({ cnf: { jkt: holder.jkt } });
    const reply = toReply(await validateToken(deps(), { token, dpop: await proofFor(token), method: 'GET', url: API }));
    assert.equal(reply.allowed, true);
    assert.equal(reply.token_type, 'DPoP');
    assert.deepEqual(reply.cnf, { jkt: holder.jkt });
  });

  it('refuses it without a proof (invalid_token) and with a bad one (invalid_dpop_proof), saying nothing more', async () => {
    const token = await sign({ cnf: { jkt: holder.jkt } });
    assert.deepEqual(toReply(await validateToken(deps(), { token })), { active: false, allowed: false, error: 'invalid_token' });
    const bad = [
      { dpop: await proofFor(token, { htm: 'POST' }), method: 'GET', url: API },
      { dpop: await proofFor(token), method: 'GET', url: 'https://api.example.com/other' },
      { dpop: await proofFor('another token'), method: 'GET', url: API },
      { dpop: await proofFor(token) },
    ];
    for (const proof of bad) {
      assert.deepEqual(toReply(await validateToken(deps(), { token, ...proof })), { active: false, allowed: false, error: 'invalid_dpop_proof' });
    }
    const once = await proofFor(token);
    assert.equal((await validateToken(deps(), { token, dpop: once, method: 'GET', url: API })).active, true);
    assert.deepEqual(toReply(await validateToken(deps(), { token, dpop: once, method: 'GET', url: API })),
      { active: false, allowed: false, error: 'invalid_dpop_proof' }, 'a proof is used once');
  });

  it('refuses a token whose cnf it cannot read, and ignores a proof sent with a bearer token', async () => {
    assert.equal((await validateToken(deps(), { token: await sign({ cnf: { jkt: 'short' } }) })).active, false);
    assert.equal((await validateToken(deps(), { token: await sign({ cnf: 'x' }) })).active, false);
    const bearer = await sign();
    const result = await validateToken(deps(), { token: bearer, dpop: 'not.a.proof', method: 'GET', url: API });
    assert.equal(result.active && result.allowed, true);
  });
});
