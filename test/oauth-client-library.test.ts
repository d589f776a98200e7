// The whole authorization code grant as a real client application does it, with oauth4webapi
// (which checks iss, state, PKCE and the token response strictly), the real pages, a resource
// server's NATS validation, and an auditor's view of OAUTH_AUDIT.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as oauth from 'oauth4webapi';
import { startSystem, type SeededClient, type SeededUser, type System } from './helpers/system.ts';
import { Browser } from './helpers/browser.ts';
import { collectAuditEvents, forClient, type AuditCollector } from './helpers/audit.ts';
import { Subjects } from '#shared/nats/subjects.ts';
import { discoverAuthorizationServer } from './helpers/oauth.ts';

const insecure = { [oauth.allowInsecureRequests]: true }; // the test issuer is http://localhost

let system: System;
let client: SeededClient;
let user: SeededUser;
let scope: string;
let audit: AuditCollector;

before(async () => {
  system = await startSystem('client-library');
  scope = await system.seed.scope('orders', 'Read your orders');
  user = await system.seed.user(['staff']);
  client = await system.seed.client({ name: 'Library Client', scopes: [scope], refreshTokens: true });
  await system.seed.resource('/orders/*', [scope], ['staff']);
  audit = await collectAuditEvents(system.nc, forClient(client.clientId));
});
after(async () => {
  await audit?.stop();
  await system?.stop();
});

describe('authorization code grant with oauth4webapi', () => {
  it('authorizes, exchanges, validates, refreshes and revokes, with every step audited', async () => {
    const as = await discoverAuthorizationServer(system);
    const oauthClient: oauth.Client = { client_id: client.clientId };
    const clientAuth = oauth.ClientSecretBasic(client.clientSecret!);

    // 1. Authorization request, sign-in and consent through the real pages.
    const verifier = oauth.generateRandomCodeVerifier();
    const state = oauth.generateRandomState();
    const url = new URL(as.authorization_endpoint!);
    url.search = new URLSearchParams({
      response_type: 'code', client_id: client.clientId, redirect_uri: client.redirectUri, scope, state,
      code_challenge: await oauth.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
    }).toString();
    const browser = new Browser([system.urls.authorizeService, system.urls.consentUi]);
    const login = await browser.navigate(url.toString());
    const consent = await browser.follow(await browser.form(login, 'Sign in').fill('Username', user.username).fill('Password', user.password).submit('Sign in'));
    const callback = await browser.form(consent, 'Allow').submit('Allow');
    assert.equal(callback.status, 303);
    assert.equal(callback.headers.get('referrer-policy'), 'no-referrer');

    // 2. The client checks iss and state (RFC 9207) and exchanges the code with its verifier.
    const params = oauth.validateAuthResponse(as, oauthClient, new URL(callback.location!), state);
    const tokens = await oauth.processAuthorizationCodeResponse(as, oauthClient,
      await oauth.authorizationCodeGrantRequest(as, oauthClient, clientAuth, params, client.redirectUri, verifier, insecure));
    assert.equal(tokens.token_type, 'bearer');
    assert.equal(tokens.scope, scope);
    assert.ok(tokens.refresh_token);

    // 3. A resource server checks the JWT (RFC 9068) and asks validation-service over NATS.
    const claims = await oauth.validateJwtAccessToken(as, new Request('https://api.example.com/orders/42', { headers: { authorization: `Bearer ${tokens.access_token}` } }), system.urls.issuer, insecure);
    assert.equal(claims.sub, user.sub);
    assert.equal(claims.client_id, client.clientId);
    const validation = (await system.nc.request(Subjects.tokenValidate, JSON.stringify({ token: tokens.access_token, scopes: [scope], resource: '/orders/42' }), { timeout: 3000 })).json<Record<string, unknown>>();
    assert.equal(validation.active, true);
    assert.equal(validation.allowed, true);
    assert.equal(validation.username, user.username);

    // 4. Refresh rotates the refresh token; revocation ends the grant.
    const refreshed = await oauth.processRefreshTokenResponse(
      as,
      oauthClient,
      await oauth.refreshTokenGrantRequest(as, oauthClient, clientAuth, tokens.refresh_token, insecure),
    );
    assert.notEqual(refreshed.refresh_token, tokens.refresh_token);
    assert.equal(refreshed.scope, scope);
    const revoked = await oauth.revocationRequest(as, oauthClient, clientAuth, refreshed.refresh_token!, insecure);
    assert.equal(revoked.status, 200);
    await assert.rejects(
      async () => oauth.processRefreshTokenResponse(
        as,
        oauthClient,
        await oauth.refreshTokenGrantRequest(as, oauthClient, clientAuth, refreshed.refresh_token!, insecure),
      ),
      (error: oauth.ResponseBodyError) => error.error === 'invalid_grant',
    );

    // 5. The auditor saw every step, and no event carries a secret.
    for (const type of ['oauth.authorization.requested', 'oauth.authorization.approved', 'oauth.code.issued', 'oauth.token.issued', 'oauth.token.refreshed', 'oauth.token.revoked']) {
      const [event] = await audit.waitFor(type);
      assert.equal(event!.specversion, '1.0');
      assert.equal(event!.subject, client.clientId);
      assert.ok(event!.id && event!.source && event!.time);
    }
    const everything = JSON.stringify(audit.events);
    for (const secret of [tokens.access_token, tokens.refresh_token, refreshed.refresh_token!, params.get('code')!, client.clientSecret!, user.password, verifier]) {
      assert.ok(!everything.includes(secret), 'no event holds a token, code, secret or password');
    }
  });
});
