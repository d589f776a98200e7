// oauth.token.validate end to end: real tokens from token-service, validated by validation-service
// over real NATS, with revocations recorded the way token-service records them.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Svcm } from '@nats-io/services';
import type { Msg } from '@nats-io/nats-core';
import { randomToken } from '#shared/crypto.ts';
import { Subjects } from '#shared/nats/subjects.ts';
import { revocationsCollection, revocationId, subjectClientKey } from '#shared/grants/revocation-feed.ts';
import { freePort, startService, startSystem, type SeededClient, type SeededUser, type System } from './helpers/system.ts';
import { codeViaNats, exchangeCode } from './helpers/oauth.ts';
import { collectAuditEvents, forClient } from './helpers/audit.ts';
import { createTestSigningKey, mintAccessToken, type TestSigningKey } from './helpers/test-signing-key.ts';

type Reply = Record<string, unknown>;

let system: System;
let scope: string;
let otherScope: string;
let user: SeededUser;
let client: SeededClient;
let testKey: TestSigningKey;

before(async () => {
  system = await startSystem('tokenvalidate', { services: ['authorize-service', 'token-service', 'validation-service'] });
  scope = await system.seed.scope('orders');
  otherScope = await system.seed.scope('billing');
  user = await system.seed.user(['staff']);
  client = await system.seed.client({ scopes: [scope, otherScope] });
  testKey = await createTestSigningKey(system.db, system.nc);
});
after(async () => {
  await system?.stop();
});

async function accessToken(scopes = [scope], who = user, as = client): Promise<string> {
  const { code, verifier } = await codeViaNats(system, as, who, { scopes });
  const res = await exchangeCode(system, as, code, verifier);
  assert.equal(res.status, 200, JSON.stringify(res.body));
  return res.body.access_token as string;
}

function requestRaw(payload: string | Uint8Array): Promise<Msg> {
  return system.nc.request(Subjects.tokenValidate, payload, { timeout: 2000 });
}

async function validate(body: Record<string, unknown>): Promise<Reply> {
  const msg = await requestRaw(JSON.stringify(body));
  assert.equal(msg.headers?.get('Nats-Service-Error') || undefined, undefined, 'a validation is a normal reply, not a service error');
  return msg.json<Reply>();
}

/** Polls until the token is inactive; returns how long that took after `since`. */
async function msUntilInactive(token: string, since: number, limitMs = 3000): Promise<number> {
  for (;;) {
    const reply = await validate({ token });
    if (reply.active === false) return Date.now() - since;
    if (Date.now() - since > limitMs) return Number.POSITIVE_INFINITY;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

const base64url = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
const INACTIVE = { active: false, allowed: false, error: 'invalid_token' };

describe('oauth.token.validate', () => {
  it('answers a genuine token as active and allowed, with every reply field', async () => {
    const token = await accessToken();
    const reply = await validate({ token, scopes: [scope] });
    const claims = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as Record<string, unknown>;
    assert.deepEqual(reply, {
      active: true, allowed: true, sub: user.sub, username: user.username, client_id: client.clientId, scope,
      exp: claims.exp, iat: claims.iat, jti: claims.jti, aud: system.env.OAUTH_ISSUER, iss: system.env.OAUTH_ISSUER, groups: ['staff'],
    });
    assert.equal(typeof reply.exp, 'number');
  });

  it('refuses a requested scope the token was not granted: insufficient_scope', async () => {
    const reply = await validate({ token: await accessToken([scope]), scopes: [scope, otherScope] });
    assert.equal(reply.active, true);
    assert.equal(reply.allowed, false);
    assert.equal(reply.error, 'insufficient_scope');
  });

  it('allows a resource whose rule lists a granted scope and one of the owner\u2019s groups', async () => {
    const prefix = `/orders-${randomToken(4)}`;
    await system.seed.resource(`${prefix}/*`, [scope], ['admins', 'staff']);
    const reply = await validate({ token: await accessToken(), scopes: [scope], resource: `${prefix}/42` });
    assert.equal(reply.active, true);
    assert.equal(reply.allowed, true);
    assert.equal(reply.error, undefined);
  });

  it('denies a resource whose rule\u2019s groups do not include the owner: access_denied', async () => {
    const prefix = `/admin-${randomToken(4)}`;
    await system.seed.resource(`${prefix}/*`, [scope], ['admins']);
    const reply = await validate({ token: await accessToken(), scopes: [scope], resource: `${prefix}/42` });
    assert.deepEqual([reply.active, reply.allowed, reply.error], [true, false, 'access_denied']);
  });

  it('denies a resource whose rule lists none of the granted scopes: access_denied', async () => {
    const path = `/billing-${randomToken(4)}`;
    await system.seed.resource(path, [otherScope]);
    const reply = await validate({ token: await accessToken([scope]), resource: path });
    assert.deepEqual([reply.active, reply.allowed, reply.error], [true, false, 'access_denied']);
  });

  it('denies a resource no rule covers: access_denied', async () => {
    const reply = await validate({ token: await accessToken(), scopes: [scope], resource: `/nothing-${randomToken(4)}` });
    assert.deepEqual([reply.active, reply.allowed, reply.error], [true, false, 'access_denied']);
  });

  it('refuses a forged token (signed by another key, or with an altered payload): invalid_token', async () => {
    const genuine = await accessToken();
    const [header, payload, signature] = genuine.split('.') as [string, string, string];
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString()) as Record<string, unknown>;
    // Another key under the real kid.
    const stranger = await createTestSigningKey();
    const realKid = (JSON.parse(Buffer.from(header, 'base64url').toString()) as { kid: string }).kid;
    const otherKey = await mintAccessToken({ ...stranger, kid: realKid }, { issuer: system.env.OAUTH_ISSUER! }, claims);
    assert.deepEqual(await validate({ token: otherKey }), INACTIVE);
    // The real signature over a widened scope.
    const tampered = `${header}.${base64url({ ...claims, scope: `${scope} ${otherScope}` })}.${signature}`;
    assert.deepEqual(await validate({ token: tampered }), INACTIVE);
    // Garbage.
    assert.deepEqual(await validate({ token: 'not-a-token' }), INACTIVE);
  });

  it('refuses a token with alg "none": invalid_token', async () => {
    const claims = JSON.parse(Buffer.from((await accessToken()).split('.')[1]!, 'base64url').toString()) as Record<string, unknown>;
    for (const kid of [testKey.kid, undefined]) {
      const unsigned = `${base64url({ alg: 'none', typ: 'at+jwt', kid })}.${base64url(claims)}.`;
      assert.deepEqual(await validate({ token: unsigned }), INACTIVE);
    }
  });

  it('keeps a token active up to 5 s after exp, and refuses it beyond that', async () => {
    const now = Math.floor(Date.now() / 1000);
    const mint = (exp: number) => mintAccessToken(testKey, { issuer: system.env.OAUTH_ISSUER! }, { sub: user.sub, exp, iat: exp - 60 });
    const withinLeeway = await validate({ token: await mint(now - 2) });
    assert.equal(withinLeeway.active, true);
    assert.equal(withinLeeway.allowed, true);
    assert.deepEqual(await validate({ token: await mint(now - 7) }), INACTIVE);
    assert.deepEqual(await validate({ token: await mint(now - 3600) }), INACTIVE);
    // A token for another audience or issuer, signed with a published key.
    assert.deepEqual(await validate({ token: await mintAccessToken(testKey, { issuer: system.env.OAUTH_ISSUER!, audience: 'https://elsewhere.example.com' }) }), INACTIVE);
    assert.deepEqual(await validate({ token: await mintAccessToken(testKey, { issuer: 'https://evil.example.com' }) }), INACTIVE);
  });

  it('makes an access token revoked at /revoke inactive within 1 s', async () => {
    const token = await accessToken();
    assert.equal((await validate({ token })).active, true);
    const audit = await collectAuditEvents(system.nc, forClient(client.clientId));
    try {
      const res = await fetch(`${system.urls.tokenService}/revoke`, {
        method: 'POST',
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          authorization: `Basic ${Buffer.from(`${client.clientId}:${client.clientSecret}`).toString('base64')}`,
        },
        body: new URLSearchParams({ token, token_type_hint: 'access_token' }),
      });
      const revokedAt = Date.now();
      assert.equal(res.status, 200);
      assert.ok(await msUntilInactive(token, revokedAt) <= 1000, 'inactive within 1 s');
      const jti = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()).jti as string;
      const doc = await revocationsCollection(system.db).findOne({ _id: revocationId('jti', jti) });
      assert.equal(doc?.kind, 'jti');
      const [event] = await audit.waitFor('oauth.token.revoked');
      assert.equal(event!.data.jti, jti);
    } finally {
      await audit.stop();
    }
  });

  it('makes every token of an owner with a client inactive within 1 s when the owner withdraws consent (subject_client)', async () => {
    const owner = await system.seed.user(['staff']);
    const [first, second] = [await accessToken([scope], owner), await accessToken([scope], owner)];
    const bystander = await accessToken();
    const reply = await system.nc.request(Subjects.consentRevoke, JSON.stringify({ sub: owner.sub, client_id: client.clientId }), { timeout: 5000 });
    const revokedAt = Date.now();
    assert.equal(reply.headers?.get('Nats-Service-Error') || undefined, undefined, reply.string());
    assert.ok(await msUntilInactive(first, revokedAt) <= 1000, 'inactive within 1 s');
    assert.deepEqual(await validate({ token: second }), INACTIVE);
    assert.equal((await validate({ token: bystander })).active, true, 'another owner\u2019s token stays active');
    const doc = await revocationsCollection(system.db).findOne({ _id: revocationId('subject_client', subjectClientKey(owner.sub, client.clientId)) });
    assert.equal(doc?.kind, 'subject_client');
  });

  it('answers every malformed request with invalid_request, never silence', async () => {
    const deeplyNested = `{"token":${'['.repeat(200_000)}${']'.repeat(200_000)}}`;
    const payloads: [string, string | Uint8Array][] = [
      ['empty', ''],
      ['not JSON', 'token=abc'],
      ['invalid UTF-8', new Uint8Array([0x7b, 0x22, 0x74, 0x6f, 0x6b, 0x65, 0x6e, 0x22, 0x3a, 0x22, 0xff, 0xfe, 0x22, 0x7d])],
      ['JSON null', 'null'],
      ['an array', '["token"]'],
      ['missing token', '{}'],
      ['empty token', '{"token":""}'],
      ['token of the wrong type', '{"token":42}'],
      ['scopes of the wrong type', JSON.stringify({ token: 'abc', scopes: 'orders.read' })],
      ['a scope that is not a scope token', JSON.stringify({ token: 'abc', scopes: ['has space'] })],
      ['resource of the wrong type', JSON.stringify({ token: 'abc', resource: ['/orders'] })],
      ['a huge token', JSON.stringify({ token: 'x'.repeat(500_000) })],
      ['a huge resource', JSON.stringify({ token: 'abc', resource: `/${'r'.repeat(300_000)}` })],
      ['too many scopes', JSON.stringify({ token: 'abc', scopes: Array.from({ length: 1000 }, (_, i) => `s${i}`) })],
      ['audience of the wrong type', JSON.stringify({ token: 'abc', audience: ['https://api.example.com/'] })],
      ['an empty audience', JSON.stringify({ token: 'abc', audience: '' })],
      ['a huge audience', JSON.stringify({ token: 'abc', audience: `https://api.example.com/${'a'.repeat(3000)}` })],
      ['deeply nested JSON', deeplyNested],
    ];
    for (const [label, payload] of payloads) {
      const msg = await requestRaw(payload);
      assert.equal(msg.headers?.get('Nats-Service-Error-Code'), '400', label);
      assert.deepEqual(msg.json(), { active: false, allowed: false, error: 'invalid_request' }, label);
    }
    // The service still answers afterwards.
    assert.equal((await validate({ token: await accessToken() })).active, true);
  });

  it('is served by every instance (queue group), and each learns a revocation within 1 s', async () => {
    const second = await startService('validation-service', { ...system.env, VALIDATION_SERVICE_PORT: String(await freePort()) });
    try {
      const token = await accessToken();
      const statsBefore = await requestCounts();
      const burst = async () => Promise.all(Array.from({ length: 40 }, () => validate({ token })));
      assert.ok((await burst()).every((r) => r.active === true));
      const statsAfter = await requestCounts();
      const served = [...statsAfter].filter(([id, count]) => count > (statsBefore.get(id) ?? 0));
      assert.ok(served.length >= 2, `both instances answered (${served.length} did)`);

      const res = await fetch(`${system.urls.tokenService}/revoke`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ token, client_id: client.clientId, client_secret: client.clientSecret! }),
      });
      assert.equal(res.status, 200);
      await new Promise((resolve) => setTimeout(resolve, 1000));
      const afterRevocation = await requestCounts();
      const replies = await burst();
      assert.deepEqual(replies.filter((r) => r.active !== false), [], 'no instance still answers active 1 s after the revocation');
      const servedAfter = [...(await requestCounts())].filter(([id, count]) => count > (afterRevocation.get(id) ?? 0));
      assert.ok(servedAfter.length >= 2, 'both instances answered after the revocation');
    } finally {
      await second.stop();
    }
  });
});

/** Requests served so far by each validation-service instance ($SRV.STATS), by instance id. */
async function requestCounts(): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  for await (const stats of await new Svcm(system.nc).client({ maxWait: 500, strategy: 'timer' } as never).stats('validation-service')) {
    counts.set(stats.id, stats.endpoints?.reduce((sum, e) => sum + e.num_requests, 0) ?? 0);
  }
  return counts;
}
