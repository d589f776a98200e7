// Scale-out: two validation-service and two token-service instances on one NATS and one database,
// as `npm start -- --instances validation-service=2,token-service=2` or docker-compose --scale runs
// them. Both validation instances share the oauth.token.validate load (queue group); a revocation
// made at either token-service edge reaches both validation instances (and introspection at both
// token-service edges) within 1 s; and the two
// token-service edges racing over one code still give exactly one success and one replay. Refresh
// tokens are sealed and checked against each token-service instance's own revocation set: one
// revoked at either edge is refused at the other within 1 s. Two consent-ui instances reuse session
// and consent reads, and a sign-out or a revoked consent at one reaches the other at once.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Svcm } from '@nats-io/services';
import { Subjects } from '#shared/nats/subjects.ts';
import { freePort, startService, startSystem, type SeededClient, type SeededUser, type System } from './helpers/system.ts';
import { authorizeUrl, codeViaNats, pkcePair } from './helpers/oauth.ts';
import { Browser } from './helpers/browser.ts';
import { keyEncryptionKey } from '#shared/keys/key-encryption.ts';
import { CommonConfigSchema, parseConfig } from '#shared/config.ts';
import { refreshTokenClaimId, refreshTokenSealer } from '#shared/grants/refresh-tokens.ts';
import { collectAuditEvents, forClient } from './helpers/audit.ts';
import { grantIdOf, postForm } from './helpers/token-requests.ts';

let system: System;
let client: SeededClient;
let resourceServer: SeededClient;
let user: SeededUser;
const extra: { stop(): Promise<void> }[] = [];
/** Base URLs of the two token-service edges. */
let tokenEdges: [string, string];

before(async () => {
  system = await startSystem('scaleout', { services: ['authorize-service', 'token-service', 'validation-service'] });
  const [tokenPort, validationPort] = [await freePort(), await freePort()];
  extra.push(await startService('token-service', { ...system.env, TOKEN_SERVICE_PORT: String(tokenPort) }));
  extra.push(await startService('validation-service', { ...system.env, VALIDATION_SERVICE_PORT: String(validationPort) }));
  tokenEdges = [system.urls.tokenService, `http://127.0.0.1:${tokenPort}`];
  const scope = await system.seed.scope('orders');
  user = await system.seed.user();
  client = await system.seed.client({ scopes: [scope], refreshTokens: true });
  resourceServer = await system.seed.client({ scopes: [scope], refreshTokens: false });
});
after(async () => {
  await Promise.allSettled(extra.map((s) => s.stop()));
  await system?.stop();
});




/** A code exchanged at `edge`: the access and refresh token. */
async function tokensAt(edge: string): Promise<{ accessToken: string; refreshToken: string }> {
  const { code, verifier } = await codeViaNats(system, client, user);
  const res = await postForm(`${edge}/token`, client, { grant_type: 'authorization_code', code, redirect_uri: client.redirectUri, code_verifier: verifier });
  assert.equal(res.status, 200, JSON.stringify(res.body));
  return { accessToken: res.body.access_token as string, refreshToken: res.body.refresh_token as string };
}

/** RFC 7662 introspection at one token-service instance's own edge: what that instance believes. */
const introspectAt = async (edge: string, token: string) => (await postForm(`${edge}/introspect`, resourceServer, { token })).body;

/**
 * oauth.token.validate, 24 requests at once: the queue group hands each to either instance at
 * random, so all 24 agree only when both instances do (both answer in a batch but with odds of
 * 1 in 2^23; the first test checks the spread with $SRV.STATS).
 */
async function validateAtBoth(token: string): Promise<boolean[]> {
  const replies = await Promise.all(Array.from({ length: 24 }, async () =>
    (await system.nc.request(Subjects.tokenValidate, JSON.stringify({ token }), { timeout: 5000 })).json<{ active: boolean }>()));
  return replies.map((r) => r.active);
}

/** Requests served so far by each validation-service instance ($SRV.STATS), by instance id. */
async function requestCounts(): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  for await (const stats of await new Svcm(system.nc).client({ maxWait: 500, strategy: 'timer' } as never).stats('validation-service')) {
    counts.set(stats.id, stats.endpoints?.reduce((sum, e) => sum + e.num_requests, 0) ?? 0);
  }
  return counts;
}

/** Milliseconds from `since` until `isInactive` holds for `token` (gives up after 3 s). */
async function msUntil(isInactive: () => Promise<boolean>, since: number): Promise<number> {
  while (Date.now() - since < 3000) {
    if (await isInactive()) return Date.now() - since;
    await new Promise((r) => setTimeout(r, 20));
  }
  return Infinity;
}

const inactiveAtEdge = (edge: string, token: string) => async () => (await introspectAt(edge, token)).active === false;
const inactiveAtBothValidators = (token: string) => async () => (await validateAtBoth(token)).every((active) => !active);

describe('oauth.token.validate with two validation-service instances', () => {
  it('is answered by both instances under load, every answer right', async () => {
    const { accessToken } = await tokensAt(tokenEdges[0]);
    const before = await requestCounts();
    assert.equal(before.size, 2, 'two instances declared on NATS');
    const replies: { active: boolean; allowed: boolean; client_id?: string }[] = [];
    // 400 requests, 50 in flight at a time.
    for (let batch = 0; batch < 8; batch++) {
      replies.push(...await Promise.all(Array.from({ length: 50 }, async () =>
        (await system.nc.request(
          Subjects.tokenValidate,
          JSON.stringify({ token: accessToken, scopes: client.scopes }),
          { timeout: 5000 },
        )).json<typeof replies[0]>())));
    }
    assert.ok(replies.every((r) => r.active && r.allowed && r.client_id === client.clientId), 'every reply active and allowed');
    const after = await requestCounts();
    const served = [...after].map(([id, count]) => count - (before.get(id) ?? 0));
    assert.equal(served.reduce((a, b) => a + b, 0), replies.length, 'every request counted once');
    // The queue group spreads requests at random: each instance takes a real share of 400.
    for (const n of served) assert.ok(n >= 80, `each instance served a share (${served.join(' / ')})`);
    process.stdout.write(`# validate under load: ${replies.length} requests served ${served.join(' / ')} by the two instances\n`);
  });
});

describe('revocation with two token-service edges', () => {
  for (const [index, label] of [[0, 'first'], [1, 'second']] as const) {
    it(`a revocation made at the ${label} token-service edge is seen by both validation-service instances and both token edges within 1 s`, async () => {
      // Issued at the other edge: any instance revokes what any instance issued.
      const other = tokenEdges[index === 0 ? 1 : 0];
      const access = await tokensAt(other);
      const grant = await tokensAt(other);
      for (const token of [access.accessToken, grant.accessToken]) {
        assert.ok((await validateAtBoth(token)).every(Boolean), 'active at both validation instances');
        for (const edge of tokenEdges) assert.equal((await introspectAt(edge, token)).active, true);
      }
      // An access token by its jti, and a whole grant by its refresh token.
      assert.equal((await postForm(`${tokenEdges[index]}/revoke`, client, { token: access.accessToken })).status, 200);
      const accessRevokedAt = Date.now();
      assert.equal((await postForm(`${tokenEdges[index]}/revoke`, client, { token: grant.refreshToken })).status, 200);
      const grantRevokedAt = Date.now();
      const delays = [
        await msUntil(inactiveAtBothValidators(access.accessToken), accessRevokedAt),
        await msUntil(inactiveAtBothValidators(grant.accessToken), grantRevokedAt),
      ];
      for (const edge of tokenEdges) {
        delays.push(
          await msUntil(inactiveAtEdge(edge, access.accessToken), accessRevokedAt),
          await msUntil(inactiveAtEdge(edge, grant.accessToken), grantRevokedAt),
        );
      }
      for (const ms of delays) assert.ok(ms <= 1000, `inactive at every validation instance and token edge within 1 s (${delays.join(', ')} ms)`);
      process.stdout.write(`# revoked at the ${label} token edge: inactive at the validation instances, then the token edges, after ${delays.join(' / ')} ms\n`);
      // Over NATS too, whichever instance answers.
      const replies = await Promise.all(Array.from({ length: 20 }, async () =>
        (await system.nc.request(Subjects.tokenValidate, JSON.stringify({ token: grant.accessToken }), { timeout: 5000 })).json<{ active: boolean }>()));
      assert.ok(replies.every((r) => r.active === false));
      // The refresh token is dead at both token edges.
      for (const edge of tokenEdges) assert.equal((await postForm(`${edge}/token`, client, { grant_type: 'refresh_token', refresh_token: grant.refreshToken })).body.error, 'invalid_grant');
    });
  }
});

describe('POST /token at two token-service edges', () => {
  it('of concurrent redemptions of one code, half at each edge, exactly one succeeds and one replay is reported', async () => {
    const audit = await collectAuditEvents(system.nc, forClient(client.clientId));
    try {
      const grants: string[] = [];
      for (let round = 0; round < 4; round++) {
        const { code, verifier } = await codeViaNats(system, client, user);
        const results = await Promise.all(Array.from({ length: 10 }, (_, i) =>
          postForm(`${tokenEdges[i % 2]}/token`, client, { grant_type: 'authorization_code', code, redirect_uri: client.redirectUri, code_verifier: verifier })));
        const ok = results.filter((r) => r.status === 200);
        assert.equal(ok.length, 1, JSON.stringify(results.map((r) => [r.status, r.body.error])));
        for (const r of results.filter((x) => x.status !== 200)) {
          assert.equal(r.status, 400);
          assert.equal(r.body.error, 'invalid_grant');
        }
        grants.push(grantIdOf(ok[0]!.body.access_token as string));
      }
      const replayed = await audit.waitFor('oauth.code.replayed', grants.length);
      // The two edges publish on their own connections, in no set order: wait for the issuances too, then room for a wrong second event.
      await audit.waitFor('oauth.token.issued', grants.length);
      await new Promise((r) => setTimeout(r, 300));
      for (const grant of grants) {
        assert.equal(audit.ofType('oauth.code.replayed').filter((e) => e.data.grant_id === grant).length, 1, 'one replay reported per code');
        assert.equal(audit.ofType('oauth.token.issued').filter((e) => e.data.grant_id === grant).length, 1, 'tokens issued once per code');
      }
      assert.equal(replayed.length, grants.length);
    } finally {
      await audit.stop();
    }
  });

  it('of concurrent refreshes with one refresh token, one at each edge, exactly one succeeds', async () => {
    for (let round = 0; round < 4; round++) {
      const { refreshToken } = await tokensAt(round % 2 === 0 ? tokenEdges[0] : tokenEdges[1]);
      const results = await Promise.all(tokenEdges.map((edge) => postForm(`${edge}/token`, client, { grant_type: 'refresh_token', refresh_token: refreshToken })));
      assert.equal(results.filter((r) => r.status === 200).length, 1, JSON.stringify(results.map((r) => [r.status, r.body.error])));
      assert.equal(results.find((r) => r.status !== 200)?.body.error, 'invalid_grant');
    }
  });
});

describe('refresh tokens with two token-service edges', () => {
  /** True when the refresh token's spending claim exists: a refusal that spent nothing was not a reuse. */
  const spent = async (refreshToken: string) => {
    // the suite runs on the development key
    const grant = refreshTokenSealer(keyEncryptionKey(parseConfig(CommonConfigSchema, {}))).open(refreshToken)!.payload;
    return (await system.db.collection('grant_claims').countDocuments({ _id: refreshTokenClaimId(grant) as never })) > 0;
  };

  for (const [label, revokeAt, refreshAt] of [['first', 0, 1], ['second', 1, 0]] as const) {
    it(`a refresh token revoked at the ${label} edge is refused at the other within 1 s, unspent`, async () => {
      const { refreshToken } = await tokensAt(tokenEdges[refreshAt]);
      assert.equal((await postForm(`${tokenEdges[revokeAt]}/revoke`, client, { token: refreshToken })).status, 200);
      await new Promise((r) => setTimeout(r, 1000));
      const refused = await postForm(`${tokenEdges[refreshAt]}/token`, client, { grant_type: 'refresh_token', refresh_token: refreshToken });
      assert.equal(refused.status, 400);
      assert.equal(refused.body.error, 'invalid_grant');
      assert.equal(await spent(refreshToken), false, 'refused as revoked, before spending');
    });
  }

  it('refuses the refresh tokens of a withdrawn consent at both edges within 1 s, and honours a grant begun after it', async () => {
    const held = [await tokensAt(tokenEdges[0]), await tokensAt(tokenEdges[1])];
    const reply = await system.nc.request(Subjects.consentRevoke, JSON.stringify({ sub: user.sub, client_id: client.clientId }), { timeout: 5000 });
    assert.ok((reply.json() as { revoked_families: number }).revoked_families >= 2);
    const after = await tokensAt(tokenEdges[0]);
    await new Promise((r) => setTimeout(r, 1000));
    for (const [i, edge] of tokenEdges.entries()) {
      const refused = await postForm(`${edge}/token`, client, { grant_type: 'refresh_token', refresh_token: held[i]!.refreshToken });
      assert.equal(refused.body.error, 'invalid_grant', `edge ${i}`);
      assert.equal(await spent(held[i]!.refreshToken), false, 'refused as revoked, before spending');
    }
    const fresh = await postForm(`${tokenEdges[1]}/token`, client, { grant_type: 'refresh_token', refresh_token: after.refreshToken });
    assert.equal(fresh.status, 200, JSON.stringify(fresh.body));
  });
});

describe('consent-ui with two instances', () => {
  // A long read reuse, so that only the change broadcast can explain a change seen at the other instance.
  const REUSE_MS = '10000';
  let ui: [string, string];
  let uiInstances: { stop(): Promise<void> }[] = [];

  before(async () => {
    const otherPort = await freePort();
    const env = { ...system.env, HOT_READ_CACHE_MS: REUSE_MS };
    uiInstances = [await startService('consent-ui', env), await startService('consent-ui', { ...env, CONSENT_UI_PORT: String(otherPort) })];
    ui = [system.urls.consentUi, `http://localhost:${otherPort}`];
  });
  after(async () => {
    await Promise.allSettled(uiInstances.map((s) => s.stop()));
  });

  async function signedIn(): Promise<{ browser: Browser; session: string }> {
    const browser = new Browser([...ui, system.urls.authorizeService]);
    const page = await browser.get(`${ui[0]}/ui/`);
    const res = await browser.form(page, 'Sign in').fill('Username', user.username).fill('Password', user.password).submit('Sign in');
    assert.equal(res.status, 303);
    return { browser, session: browser.jar.get(ui[0], 'session')!.value };
  }

  /** Whether the instance at `base` takes this session cookie as signed in. */
  const signedInAt = async (base: string, session: string) => {
    const res = await fetch(`${base}/ui/authorizations`, { headers: { cookie: `session=${session}` }, redirect: 'manual' });
    return /Sign out/.test(await res.text());
  };

  /** A new authorization request for the client, shown by the instance at `base`: the consent page, or straight back with a code. */
  async function authorizeAt(browser: Browser, base: string): Promise<'consent' | 'code'> {
    const started = await fetch(authorizeUrl(system, {
      response_type: 'code', client_id: client.clientId, redirect_uri: client.redirectUri, scope: client.scopes.join(' '), state: 's',
      code_challenge: pkcePair().challenge, code_challenge_method: 'S256',
    }), { redirect: 'manual' });
    const consentUrl = new URL(started.headers.get('location')!);
    const page = await browser.get(`${base}${consentUrl.pathname}${consentUrl.search}`);
    if (page.status === 302 && new URL(page.location!).searchParams.get('code')) return 'code';
    assert.ok(browser.form(page, 'Allow'), `consent page at ${base}`);
    return 'consent';
  }

  it('a sign-out at one instance ends the session at the other at once, well within its read reuse', async () => {
    const { browser, session } = await signedIn();
    assert.equal(await signedInAt(ui[1], session), true, 'the other instance has read the session');
    const page = await browser.get(`${ui[0]}/ui/authorizations`);
    assert.equal((await browser.form(page, 'Sign out').submit('Sign out')).status, 303);
    const since = Date.now();
    while (await signedInAt(ui[1], session)) {
      assert.ok(Date.now() - since < 1000, 'the other instance still takes the signed-out session after 1 s');
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.equal(await signedInAt(ui[0], session), false);
  });

  it('a consent revoked at one instance is asked for again at the other at once', async () => {
    const { browser } = await signedIn();
    const page = await browser.get((await fetch(authorizeUrl(system, {
      response_type: 'code', client_id: client.clientId, redirect_uri: client.redirectUri, scope: client.scopes.join(' '), state: 's',
      code_challenge: pkcePair().challenge, code_challenge_method: 'S256',
    }), { redirect: 'manual' })).headers.get('location')!);
    const approved = await browser.form(page, 'Allow').check('Remember this decision').submit('Allow');
    assert.equal(approved.status, 303);
    assert.equal(await authorizeAt(browser, ui[1]), 'code', 'remembered, as read by the other instance');
    const list = await browser.get(`${ui[0]}/ui/authorizations`);
    assert.equal((await browser.form(list, 'Revoke').submit('Revoke')).status, 303);
    const since = Date.now();
    while ((await authorizeAt(browser, ui[1])) === 'code') {
      assert.ok(Date.now() - since < 1000, 'the other instance still honours the withdrawn consent after 1 s');
    }
  });
});
