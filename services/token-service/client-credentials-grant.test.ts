import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { decodeJwt } from 'jose';
import { verifyAccessToken } from '#shared/access-tokens/verify-access-token.ts';
import { grantClientCredentials, type Deps } from './client-credentials-grant.ts';
import { AuditRecorder, refusal, testClient, testKeys, testRevocations, TestClock } from './test-doubles.ts';

const ISSUER = 'https://as.example.com';

async function setup() {
  const clock = new TestClock();
  const audit = new AuditRecorder();
  const keys = await testKeys();
  const deps: Deps = { clock, audit, tokens: { keys, issuer: ISSUER, audience: ISSUER } };
  const client = testClient({ grantTypes: ['client_credentials'], redirectUris: [], scopes: ['read', 'write'] });
  return { deps, clock, audit, keys, client };
}

describe('grantClientCredentials', () => {
  it('issues an access token for the client itself: sub = client_id, every client scope, no refresh token, no grant', async () => {
    const { deps, audit, client } = await setup();
    const result = await grantClientCredentials(deps, { client, scope: undefined });
    assert.deepEqual(result.scopes, ['read', 'write']);
    assert.equal(result.refreshToken, undefined);
    const claims = decodeJwt(result.accessToken);
    assert.equal(claims.sub, 'c_test');
    assert.equal(claims.client_id, 'c_test');
    assert.equal(claims.scope, 'read write');
    assert.equal(claims.gid, undefined);
    assert.equal(claims.auth_time, undefined);
    assert.equal((claims.exp ?? 0) - (claims.iat ?? 0), 600);
    const [issued] = audit.ofType('oauth.token.issued');
    assert.equal(issued!.subject, 'c_test');
    assert.deepEqual(issued!.data, { client_id: 'c_test', sub: 'c_test', scope: 'read write', jti: claims.jti, grant_type: 'client_credentials' });
  });

  it('narrows to the requested scope', async () => {
    const { deps, client } = await setup();
    const result = await grantClientCredentials(deps, { client, scope: 'write' });
    assert.deepEqual(result.scopes, ['write']);
    assert.equal(decodeJwt(result.accessToken).scope, 'write');
  });

  it('refuses a scope beyond the client, and a malformed one, with invalid_scope', async () => {
    const { deps, audit, client } = await setup();
    for (const scope of ['read admin', 'admin', '', 'read  write', 'read\u00e9', '"read"']) {
      assert.equal((await refusal(grantClientCredentials(deps, { client, scope }))).code, 'invalid_scope', scope);
    }
    assert.equal(audit.events.length, 0);
  });

  it('refuses a client not registered for the grant, and a public client, with unauthorized_client', async () => {
    const { deps, audit } = await setup();
    const codeOnly = testClient({ grantTypes: ['authorization_code', 'refresh_token'] });
    assert.equal((await refusal(grantClientCredentials(deps, { client: codeOnly, scope: undefined }))).code, 'unauthorized_client');
    const publicClient = testClient({ type: 'public', grantTypes: ['client_credentials'] });
    assert.equal((await refusal(grantClientCredentials(deps, { client: publicClient, scope: undefined }))).code, 'unauthorized_client');
    assert.equal(audit.events.length, 0);
  });

  it('a client cut-off (clients disable, grants revoke --client) ends the token by its iat', async () => {
    const { deps, clock, keys, client } = await setup();
    const { accessToken } = await grantClientCredentials(deps, { client, scope: undefined });
    const revocations = testRevocations(clock);
    const verificationKeys = { current: () => keys.publicKey, find: async () => keys.publicKey };
    const verify = { keys: verificationKeys, revocations, cache: undefined, clock, issuer: ISSUER, audience: ISSUER };
    assert.ok(await verifyAccessToken(verify, accessToken));
    clock.advance(0.5);
    revocations.record({ kind: 'client', key: 'c_test', issuedBeforeMs: clock.now().getTime(), expiresAtMs: clock.now().getTime() + 700_000 });
    assert.equal(await verifyAccessToken(verify, accessToken), undefined);
    // A token issued after the cut-off (the client enabled again), even within the same second, is not covered.
    clock.current = new Date(clock.current.getTime() + 1);
    assert.ok(await verifyAccessToken(verify, (await grantClientCredentials(deps, { client, scope: undefined })).accessToken));
  });

  it('RFC 8707: a registered resource becomes the audience with the scope cut to what it accepts; an unknown or malformed one is invalid_target', async () => {
    const { deps, audit, client } = await setup();
    const api = { _id: 'https://api.example.com/', scopes: ['read'], createdAt: new Date(0) };
    const withServers: Deps = { ...deps, findResourceServer: async (uri) => (uri === api._id ? api : undefined) };
    const result = await grantClientCredentials(withServers, { client, scope: undefined, resources: [api._id] });
    const claims = decodeJwt(result.accessToken);
    assert.equal(claims.aud, api._id);
    assert.equal(claims.scope, 'read');
    assert.deepEqual(audit.ofType('oauth.token.issued')[0]!.data.resource, [api._id]);
    for (const resource of ['https://unregistered.example.com/', 'not a uri']) {
      assert.equal((await refusal(grantClientCredentials(withServers, { client, scope: undefined, resources: [resource] }))).code, 'invalid_target', resource);
    }
    // A resource that accepts none of the requested scopes gives a token good for nothing: refused too.
    assert.equal((await refusal(grantClientCredentials(withServers, { client, scope: 'write', resources: [api._id] }))).code, 'invalid_target');
  });
});
