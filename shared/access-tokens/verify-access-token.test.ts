import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import { SignJWT, generateKeyPair, type CryptoKey, type JWTPayload } from 'jose';
import { VerifiedTokenCache } from './verified-token-cache.ts';
import { verifyAccessToken, EXP_LEEWAY_SECONDS, type AccessToken, type Deps } from './verify-access-token.ts';

const ISSUER = 'https://id.example.com';
const NOW_S = Math.floor(Date.parse('2030-01-01T00:00:00Z') / 1000);

let signer: CryptoKey;
let verifier: CryptoKey;
let otherSigner: CryptoKey;

before(async () => {
  ({ privateKey: signer, publicKey: verifier } = await generateKeyPair('ES256'));
  ({ privateKey: otherSigner } = await generateKeyPair('ES256'));
});

function deps(over: Partial<Deps> & { revoked?: Set<string>; nowS?: number } = {}): Deps {
  const keys = new Map([['k1', verifier]]);
  const nowS = over.nowS ?? NOW_S;
  const revoked = over.revoked ?? new Set<string>();
  return {
    keys: { current: (kid) => keys.get(kid), find: async (kid) => keys.get(kid) },
    revocations: { isRevoked: (t) => t.jti !== undefined && revoked.has(t.jti) },
    cache: undefined,
    clock: { now: () => new Date(nowS * 1000) },
    issuer: ISSUER,
    audience: ISSUER,
    ...over,
  };
}

const claims = (over: JWTPayload = {}): JWTPayload => ({
  iss: ISSUER, sub: 'u1', aud: ISSUER, client_id: 'c1', scope: 'orders.read profile', exp: NOW_S + 600, iat: NOW_S, jti: 'j1', auth_time: NOW_S, gid: 'g1', ...over,
});

function sign(payload: JWTPayload = claims(), header: Record<string, unknown> = {}, key: CryptoKey = signer): Promise<string> {
  return new SignJWT(payload).setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', kid: 'k1', ...header }).sign(key);
}

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

describe('verifyAccessToken', () => {
  it('accepts a genuine token and returns its claims', async () => {
    const token = await verifyAccessToken(deps(), await sign());
    assert.ok(token);
    assert.deepEqual({ ...token, scopes: [...token.scopes] }, {
      kid: 'k1', iss: ISSUER, sub: 'u1', aud: ISSUER, clientId: 'c1', scope: 'orders.read profile', scopes: ['orders.read', 'profile'],
      exp: NOW_S + 600, iat: NOW_S, jti: 'j1', grantId: 'g1', iatMs: undefined, jkt: undefined,
    });
  });

  it('takes the grant\u2019s start (grant_start_ms) for cut-offs when it is not after the token\u2019s issue, else the token\u2019s iat', async () => {
    const started = NOW_S * 1000 - 1500;
    assert.equal((await verifyAccessToken(deps(), await sign(claims({ grant_start_ms: started }))))?.iatMs, started);
    for (const bad of [NOW_S * 1000 + 1000, 'soon', 1.5]) {
      assert.equal((await verifyAccessToken(deps(), await sign(claims({ grant_start_ms: bad }))))?.iatMs, undefined, String(bad));
    }
  });

  it('accepts an aud array that contains the audience, and "application/at+jwt"', async () => {
    assert.ok(await verifyAccessToken(deps(), await sign(claims({ aud: ['https://api.example.com', ISSUER] }))));
    assert.ok(await verifyAccessToken(deps(), await sign(claims(), { typ: 'application/at+jwt' })));
  });

  it('refuses a token signed by another key, or whose payload was altered', async () => {
    assert.equal(await verifyAccessToken(deps(), await sign(claims(), {}, otherSigner)), undefined);
    const [h, , s] = (await sign()).split('.');
    const tampered = `${h}.${b64(claims({ scope: 'orders.read orders.write' }))}.${s}`;
    assert.equal(await verifyAccessToken(deps(), tampered), undefined);
  });

  it('refuses alg "none" and any algorithm but ES256', async () => {
    const unsigned = `${b64({ alg: 'none', typ: 'at+jwt', kid: 'k1' })}.${b64(claims())}.`;
    assert.equal(await verifyAccessToken(deps(), unsigned), undefined);
    const hs = await new SignJWT(claims()).setProtectedHeader({ alg: 'HS256', typ: 'at+jwt', kid: 'k1' }).sign(new Uint8Array(32));
    assert.equal(await verifyAccessToken(deps(), hs), undefined);
  });

  it('refuses a token without typ at+jwt (RFC 9068 §4), or without a kid', async () => {
    assert.equal(await verifyAccessToken(deps(), await sign(claims(), { typ: 'JWT' })), undefined);
    const noKid = await new SignJWT(claims()).setProtectedHeader({ alg: 'ES256', typ: 'at+jwt' }).sign(signer);
    assert.equal(await verifyAccessToken(deps(), noKid), undefined);
    assert.equal(await verifyAccessToken(deps(), await sign(claims(), { kid: 'unknown' })), undefined);
  });

  it('accepts an aud of registered resource servers (RFC 8707), and refuses one naming any other', async () => {
    const registered = async (uri: string) => (['https://api.example.com/', 'https://files.example.com/'].includes(uri) ? {} : undefined);
    const withServers = { ...deps(), findResourceServer: registered };
    assert.ok(await verifyAccessToken(withServers, await sign(claims({ aud: 'https://api.example.com/' }))));
    assert.ok(await verifyAccessToken(withServers, await sign(claims({ aud: ['https://api.example.com/', 'https://files.example.com/'] }))));
    assert.equal(await verifyAccessToken(withServers, await sign(claims({ aud: ['https://api.example.com/', 'https://other.example.com/'] }))), undefined);
    assert.equal(await verifyAccessToken(deps(), await sign(claims({ aud: 'https://api.example.com/' }))), undefined, 'without the registry');
  });

  it('judges revocation and expiry after waiting for a resource server\u2019s load, not before', async () => {
    const revoked = new Set<string>();
    let nowS = NOW_S;
    const loading = async (uri: string) => {
      await new Promise((resolve) => setTimeout(resolve, 20));
      return uri === 'https://api.example.com/' ? {} : undefined;
    };
    const d = deps({ revoked, findResourceServer: loading, clock: { now: () => new Date(nowS * 1000) } });
    const token = await sign(claims({ aud: 'https://api.example.com/', jti: 'during-the-wait' }));
    const revokedMeanwhile = verifyAccessToken(d, token);
    revoked.add('during-the-wait');
    assert.equal(await revokedMeanwhile, undefined, 'revoked while the lookup waited');
    const expired = verifyAccessToken(d, await sign(claims({ aud: 'https://api.example.com/', jti: 'j2', exp: NOW_S + 1 })));
    nowS = NOW_S + 1 + EXP_LEEWAY_SECONDS;
    assert.equal(await expired, undefined, 'expired while the lookup waited');
  });

  it('refuses a cached token for a resource server deleted since it was verified', async () => {
    const servers = new Set(['https://api.example.com/']);
    const withServers = deps({ cache: new VerifiedTokenCache<AccessToken>(10), findResourceServer: async (uri) => (servers.has(uri) ? {} : undefined) });
    const token = await sign(claims({ aud: 'https://api.example.com/' }));
    assert.ok(await verifyAccessToken(withServers, token));
    servers.clear();
    assert.equal(await verifyAccessToken(withServers, token), undefined);
  });

  it('refuses a wrong issuer or audience', async () => {
    assert.equal(await verifyAccessToken(deps(), await sign(claims({ iss: 'https://evil.example.com' }))), undefined);
    assert.equal(await verifyAccessToken(deps(), await sign(claims({ aud: 'https://other.example.com' }))), undefined);
  });

  for (const missing of ['iss', 'sub', 'aud', 'client_id', 'scope', 'exp', 'iat', 'jti']) {
    it(`refuses a token without ${missing}`, async () => {
      const payload = claims();
      delete payload[missing];
      assert.equal(await verifyAccessToken(deps(), await sign(payload)), undefined);
    });
  }

  it('refuses claims of the wrong type', async () => {
    assert.equal(await verifyAccessToken(deps(), await sign(claims({ scope: ['orders.read'] }))), undefined);
    assert.equal(await verifyAccessToken(deps(), await sign(claims({ client_id: 7 }))), undefined);
    assert.equal(await verifyAccessToken(deps(), await sign(claims({ gid: 7 }))), undefined);
  });

  it('keeps a token active up to, but not at, 5 s after exp', async () => {
    const token = await sign(claims({ exp: NOW_S }));
    assert.ok(await verifyAccessToken(deps({ nowS: NOW_S + EXP_LEEWAY_SECONDS - 1 }), token));
    assert.equal(await verifyAccessToken(deps({ nowS: NOW_S + EXP_LEEWAY_SECONDS }), token), undefined);
  });

  it('refuses a revoked token', async () => {
    assert.equal(await verifyAccessToken(deps({ revoked: new Set(['j1']) }), await sign()), undefined);
  });

  it('on a cache hit skips the signature check but still checks expiry, key retirement and revocation', async () => {
    const cache = new VerifiedTokenCache<AccessToken>(10);
    let nowS = NOW_S;
    let lookups = 0;
    let retired = false;
    const revoked = new Set<string>();
    const d = deps({
      cache, revoked,
      clock: { now: () => new Date(nowS * 1000) },
      keys: { current: () => (retired ? undefined : verifier), find: async () => { lookups++; return verifier; } },
    });
    const keysCurrent = d.keys.current;
    d.keys = { ...d.keys, current: (kid) => { lookups++; return keysCurrent(kid); } };
    const token = await sign(claims({ exp: NOW_S + 60 }));
    assert.ok(await verifyAccessToken(d, token));
    assert.equal(cache.size, 1);
    lookups = 0;
    assert.ok(await verifyAccessToken(d, token));
    assert.equal(lookups, 1, 'only the retirement check, no signature verification');

    revoked.add('j1');
    assert.equal(await verifyAccessToken(d, token), undefined);
    revoked.clear();
    retired = true;
    assert.equal(await verifyAccessToken(d, token), undefined);
    retired = false;
    nowS = NOW_S + 60 + EXP_LEEWAY_SECONDS;
    assert.equal(await verifyAccessToken(d, token), undefined);
    assert.equal(cache.size, 0, 'an expired token leaves the cache');
  });

  it('never caches a token that failed verification', async () => {
    const cache = new VerifiedTokenCache<AccessToken>(10);
    await verifyAccessToken(deps({ cache }), await sign(claims(), {}, otherSigner));
    assert.equal(cache.size, 0);
  });
});
