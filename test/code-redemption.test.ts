// Code redemption at the token endpoint (RFC 6749 §4.1.3, RFC 7636, RFC 9068) against the real
// authorize-service and token-service: the wire, the stored state and the audit events.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as oauth from 'oauth4webapi';
import { startTokenSystem, type SeededUser, type System } from './helpers/system.ts';
import { codeViaNats, exchangeCode, tokenRequest } from './helpers/oauth.ts';
import { collectAuditEvents, forClient } from './helpers/audit.ts';
import { grantIdOf, refreshRequest, verifyAccessToken, watchRevocations } from './helpers/token-requests.ts';
import { authorizationCodeSealer, type AuthorizationCodePayload } from '#shared/grants/authorization-codes.ts';
import { createSealer } from '#shared/grants/sealed-state.ts';
import { keyEncryptionKey } from '#shared/keys/key-encryption.ts';
import { CommonConfigSchema, parseConfig } from '#shared/config.ts';

let system: System;
let scope: string;
let user: SeededUser;

before(async () => {
  ({ system, scope, user } = await startTokenSystem('coderedeem', 'profile'));
});
after(() => system.stop());

const newClient = (options: { type?: 'confidential' | 'public'; refreshTokens?: boolean; accessTokenTtlSeconds?: number } = {}) =>
  system.seed.client({ scopes: [scope], ...options });

describe('POST /token grant_type=authorization_code', () => {
  it('exchanges a code for an RFC 9068 access token that verifies against jwks_uri, with no-store headers', async () => {
    const client = await newClient({ accessTokenTtlSeconds: 300 });
    const audit = await collectAuditEvents(system.nc, forClient(client.clientId));
    try {
      const { code, verifier } = await codeViaNats(system, client, user);
      const before = Math.floor(Date.now() / 1000);
      const res = await exchangeCode(system, client, code, verifier);
      assert.equal(res.status, 200, JSON.stringify(res.body));
      assert.equal(res.headers.get('cache-control'), 'no-store');
      assert.equal(res.headers.get('pragma'), 'no-cache');
      assert.equal(res.body.token_type, 'Bearer');
      assert.equal(res.body.expires_in, 300);
      assert.equal(res.body.scope, scope);
      assert.equal(typeof res.body.refresh_token, 'string');

      const { payload, header } = await verifyAccessToken(system, res.body.access_token as string);
      assert.equal(header.typ, 'at+jwt');
      assert.equal(header.alg, 'ES256');
      assert.equal(typeof header.kid, 'string');
      assert.equal(payload.iss, system.urls.issuer);
      assert.equal(payload.aud, system.urls.issuer);
      assert.equal(payload.sub, user.sub);
      assert.equal(payload.client_id, client.clientId);
      assert.equal(payload.scope, scope);
      assert.equal(typeof payload.jti, 'string');
      assert.ok(payload.iat! >= before - 1 && payload.exp === payload.iat! + 300);
      assert.equal(typeof payload.auth_time, 'number');
      assert.equal(typeof payload.gid, 'string');

      const [issued] = await audit.waitFor('oauth.token.issued');
      assert.equal(issued!.subject, client.clientId);
      assert.deepEqual(
        {
          client_id: issued!.data.client_id, sub: issued!.data.sub, username: issued!.data.username,
          scope: issued!.data.scope, jti: issued!.data.jti, grant_id: issued!.data.grant_id,
        },
        { client_id: client.clientId, sub: user.sub, username: user.username, scope, jti: payload.jti, grant_id: payload.gid },
      );
      const serialized = JSON.stringify(audit.events);
      const secrets = [code, verifier, res.body.access_token as string, res.body.refresh_token as string, client.clientSecret!];
      for (const secret of secrets) assert.ok(!serialized.includes(secret));
    } finally {
      await audit.stop();
    }
  });

  it('accepts client_secret_post, and a public client with PKCE and no secret', async () => {
    const confidential = await newClient();
    const a = await codeViaNats(system, confidential, user);
    const post = await tokenRequest(system, { grant_type: 'authorization_code', code: a.code, redirect_uri: confidential.redirectUri, code_verifier: a.verifier },
      { clientId: confidential.clientId, clientSecret: confidential.clientSecret!, method: 'post' });
    assert.equal(post.status, 200, JSON.stringify(post.body));

    const pub = await newClient({ type: 'public' });
    const b = await codeViaNats(system, pub, user);
    const none = await exchangeCode(system, pub, b.code, b.verifier);
    assert.equal(none.status, 200, JSON.stringify(none.body));
    assert.equal(typeof none.body.refresh_token, 'string');
  });

  it('gives no refresh token to a client not set to get them', async () => {
    const client = await newClient({ refreshTokens: false });
    const { code, verifier } = await codeViaNats(system, client, user);
    const res = await exchangeCode(system, client, code, verifier);
    assert.equal(res.status, 200);
    assert.equal(res.body.refresh_token, undefined);
    assert.equal(res.body.scope, scope);
  });

  it('works with a conforming OAuth client (oauth4webapi: iss check, token response, refresh, RFC 9068 validation)', async () => {
    const client = await newClient();
    const issuer = new URL(system.urls.issuer);
    const as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, { algorithm: 'oauth2', [oauth.allowInsecureRequests]: true }));
    const oauthClient: oauth.Client = { client_id: client.clientId };
    const auth = oauth.ClientSecretBasic(client.clientSecret!);
    const { state, verifier, redirectTo } = await codeViaNats(system, client, user);
    const params = oauth.validateAuthResponse(as, oauthClient, redirectTo, state);
    const tokens = await oauth.processAuthorizationCodeResponse(as, oauthClient,
      await oauth.authorizationCodeGrantRequest(as, oauthClient, auth, params, client.redirectUri, verifier, { [oauth.allowInsecureRequests]: true }));
    assert.equal(tokens.token_type, 'bearer');
    assert.equal(tokens.scope, scope);
    const claims = await oauth.validateJwtAccessToken(as, new Request('https://rs.example.com/', { headers: { authorization: `Bearer ${tokens.access_token}` } }),
      system.urls.issuer, { [oauth.allowInsecureRequests]: true });
    assert.equal(claims.client_id, client.clientId);
    const refreshed = await oauth.processRefreshTokenResponse(as, oauthClient,
      await oauth.refreshTokenGrantRequest(as, oauthClient, auth, tokens.refresh_token!, { [oauth.allowInsecureRequests]: true }));
    assert.notEqual(refreshed.refresh_token, tokens.refresh_token);
  });

  it('lets exactly one of 10 concurrent redemptions of a code succeed, and reports one replay', async () => {
    const client = await newClient();
    const audit = await collectAuditEvents(system.nc, forClient(client.clientId));
    try {
      const { code, verifier } = await codeViaNats(system, client, user);
      const results = await Promise.all(Array.from({ length: 10 }, () => exchangeCode(system, client, code, verifier)));
      const ok = results.filter((r) => r.status === 200);
      assert.equal(ok.length, 1, JSON.stringify(results.map((r) => [r.status, r.body.error])));
      for (const r of results.filter((x) => x.status !== 200)) {
        assert.equal(r.status, 400);
        assert.equal(r.body.error, 'invalid_grant');
      }
      await audit.waitForExactly({ 'oauth.code.replayed': 1, 'oauth.token.issued': 1 }, 500);
      // What the code produced is revoked: its refresh token no longer works.
      const refresh = await refreshRequest(system, client, ok[0]!.body.refresh_token as string);
      assert.equal(refresh.body.error, 'invalid_grant');
    } finally {
      await audit.stop();
    }
  });

  it('claims a code by its family alone, closed for a client without refresh tokens; and redeems a grant once when its code of the earlier kind races it (an upgrade)', async () => {
    // The suite's services run on the development key, so the test can open codes and seal one as an earlier release did.
    const kek = keyEncryptionKey(parseConfig(CommonConfigSchema, {}));
    const codes = authorizationCodeSealer(kek);
    const earlier = createSealer<AuthorizationCodePayload>(kek, 'authorization-code');
    const families = system.db.collection<{ _id: string; revokedAt: Date | null }>('refresh_token_families');
    for (const refreshTokens of [true, false]) {
      const client = await newClient({ refreshTokens });
      const { code, verifier } = await codeViaNats(system, client, user);
      const { payload, expiresAt } = codes.open(code)!;
      const earlierKindCode = earlier.seal(payload, expiresAt);
      const presented = [code, earlierKindCode, code, earlierKindCode, code, earlierKindCode];
      const results = await Promise.all(presented.map((c) => exchangeCode(system, client, c, verifier)));
      const statuses = results.map((r) => r.status);
      assert.deepEqual(statuses.filter((st) => st === 200), [200], `refresh tokens ${refreshTokens}: ${statuses.join(',')}`);
      assert.ok(results.every((r) => r.status === 200 || r.body.error === 'invalid_grant'));
      assert.ok(await families.findOne({ _id: payload.grantId }), 'the family is stored: it is the claim');
    }
    // Uncontended, a code sealed now writes its family and nothing else.
    for (const refreshTokens of [true, false]) {
      const client = await newClient({ refreshTokens });
      const { code, verifier } = await codeViaNats(system, client, user);
      assert.equal((await exchangeCode(system, client, code, verifier)).status, 200);
      const grantId = codes.open(code)!.payload.grantId;
      assert.equal(await system.db.collection('grant_claims').countDocuments({ _id: `code:${grantId}` as never }), 0);
      const family = await families.findOne({ _id: grantId });
      assert.equal(family?.revokedAt === null, refreshTokens, 'open with refresh tokens, closed without');
      assert.equal((await exchangeCode(system, client, code, verifier)).body.error, 'invalid_grant', 'and the code is spent');
    }
  });

  it('refuses a replayed code and revokes what it issued: the refresh family and, by grant, its access tokens', async () => {
    const client = await newClient();
    const audit = await collectAuditEvents(system.nc, forClient(client.clientId));
    const broadcasts = watchRevocations(system);
    try {
      const { code, verifier } = await codeViaNats(system, client, user);
      const first = await exchangeCode(system, client, code, verifier);
      assert.equal(first.status, 200);
      const grantId = grantIdOf(first.body.access_token as string);

      const replay = await exchangeCode(system, client, code, verifier);
      assert.equal(replay.status, 400);
      assert.equal(replay.body.error, 'invalid_grant');

      const refresh = await refreshRequest(system, client, first.body.refresh_token as string);
      assert.equal(refresh.status, 400);
      assert.equal(refresh.body.error, 'invalid_grant');

      const family = await system.db.collection('refresh_token_families').findOne({ _id: grantId as never });
      assert.ok(family?.revokedAt instanceof Date);
      const record = await system.db.collection('revocations').findOne({ _id: `grant:${grantId}` as never });
      assert.equal(record?.kind, 'grant');
      assert.ok(record!.expiresAt.getTime() > Date.now() + 600_000 - 5000, 'kept at least as long as an access token lives');
      const broadcast = await broadcasts.waitFor((r) => r.kind === 'grant' && r.key === grantId);
      assert.ok(broadcast.expires_at > Math.floor(Date.now() / 1000));

      const [replayed] = await audit.waitFor('oauth.code.replayed');
      assert.equal(replayed!.data.grant_id, grantId);
      assert.equal(replayed!.data.sub, user.sub);
      assert.ok(!JSON.stringify(replayed).includes(code));
    } finally {
      broadcasts.sub.unsubscribe();
      await audit.stop();
    }
  });

  it('keeps no code, token, verifier or secret in the database: codes and refresh tokens are sealed, not stored', async () => {
    const client = await newClient();
    const { code, verifier } = await codeViaNats(system, client, user);
    const first = await exchangeCode(system, client, code, verifier);
    const second = await refreshRequest(system, client, first.body.refresh_token as string);
    assert.equal(second.status, 200);
    const secrets = [code, verifier, client.clientSecret!, ...[first, second].flatMap((r) => [r.body.access_token as string, r.body.refresh_token as string])];
    const dump: string[] = [];
    for (const { name } of await system.db.listCollections().toArray()) {
      dump.push(JSON.stringify(await system.db.collection(name).find().toArray()));
    }
    const all = dump.join('\n');
    for (const secret of secrets) {
      assert.ok(!all.includes(secret), 'a raw secret value is stored');
      assert.ok(!all.includes(secret.slice(20, 60)), 'a piece of a secret value is stored');
    }
    // What is stored instead: the grant, and the claims that spent its code and first refresh token.
    const grantId = grantIdOf(first.body.access_token as string);
    assert.equal(await system.db.collection('refresh_token_families').countDocuments({ _id: grantId as never }), 1);
    assert.equal(await system.db.collection('grant_claims').countDocuments({ _id: `refresh:${grantId}:0` as never }), 1);
  });
});
