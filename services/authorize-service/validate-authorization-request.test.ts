import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { ClientDoc } from '#shared/reference-data/clients.ts';
import { parseScopeParameter } from '#shared/reference-data/scopes.ts';
import { validateAuthorizationRequest, type RawQuery } from './validate-authorization-request.ts';

const client: ClientDoc = {
  _id: 'c1', name: 'App', type: 'confidential', secretHash: 'x', redirectUris: ['https://app.example.com/cb', 'https://app.example.com/cb2'],
  scopes: ['read', 'write'], grantTypes: ['authorization_code', 'refresh_token'], accessTokenTtlSeconds: 600, refreshTokenTtlSeconds: 86400,
  createdAt: new Date(0), updatedAt: new Date(0),
};
const publicClient: ClientDoc = { ...client, _id: 'p1', type: 'public', redirectUris: ['https://spa.example.com/cb'] };
const deps = {
  findClient: async (id: string) => [client, publicClient].find((c) => c._id === id),
  scopeExists: async (name: string) => ['read', 'write'].includes(name),
  resourceServer: async (uri: string) => [
    { _id: 'https://api.example.com/', scopes: ['read'], createdAt: new Date(0) },
    { _id: 'https://files.example.com/', scopes: ['write'], createdAt: new Date(0) },
  ].find((r) => r._id === uri),
};
const CHALLENGE = 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM';
const valid: RawQuery = { response_type: 'code', client_id: 'c1', redirect_uri: 'https://app.example.com/cb', scope: 'read', state: 's1' };

describe('validateAuthorizationRequest', () => {
  it('accepts a well-formed request', async () => {
    const result = await validateAuthorizationRequest(deps, valid);
    assert.equal(result.kind, 'valid');
    assert.deepEqual(result.kind === 'valid' && result.request, {
      clientId: 'c1', redirectUri: 'https://app.example.com/cb', redirectUriSent: true, scopes: ['read'], state: 's1', codeChallenge: undefined,
    });
  });

  it('shows an error page, never a redirect, for unknown, empty or repeated client_id', async () => {
    for (const client_id of ['nope', '', ['c1', 'c1']]) {
      assert.equal((await validateAuthorizationRequest(deps, { ...valid, client_id })).kind, 'show-error');
    }
    assert.equal((await validateAuthorizationRequest(deps, { ...valid, client_id: undefined })).kind, 'show-error');
  });

  it('compares redirect URIs as exact strings (RFC 9700 §4.1.3)', async () => {
    const variants = ['https://app.example.com/cb/', 'https://APP.example.com/cb', 'https://app.example.com:443/cb', 'https://app.example.com/cb?x=1',
      'https://app.example.com/CB', 'https://app.example.com/c%62', 'https://evil@app.example.com/cb', 'https://app.example.com/cb#f', 'http://app.example.com/cb'];
    for (const redirect_uri of variants) {
      assert.equal((await validateAuthorizationRequest(deps, { ...valid, redirect_uri })).kind, 'show-error', redirect_uri);
    }
  });

  it('requires redirect_uri when several are registered, and not when one is', async () => {
    assert.equal((await validateAuthorizationRequest(deps, { ...valid, redirect_uri: undefined })).kind, 'show-error');
    const result = await validateAuthorizationRequest(deps, { response_type: 'code', client_id: 'p1', scope: 'read', code_challenge: CHALLENGE, code_challenge_method: 'S256' });
    assert.equal(result.kind === 'valid' && result.request.redirectUri, 'https://spa.example.com/cb');
    assert.equal(result.kind === 'valid' && result.request.redirectUriSent, false);
  });

  it('shows an error page for a repeated redirect_uri', async () => {
    assert.equal((await validateAuthorizationRequest(deps, { ...valid, redirect_uri: ['https://app.example.com/cb', 'https://app.example.com/cb'] })).kind, 'show-error');
  });

  const redirectError = async (query: RawQuery) => {
    const result = await validateAuthorizationRequest(deps, query);
    assert.equal(result.kind, 'redirect-error');
    return result.kind === 'redirect-error' ? result : assert.fail();
  };

  it('redirects invalid_request for other repeated parameters, without echoing a repeated state', async () => {
    const result = await redirectError({ ...valid, scope: ['read', 'read'] });
    assert.equal(result.error.code, 'invalid_request');
    assert.equal(result.state, 's1');
    assert.equal((await redirectError({ ...valid, state: ['a', 'b'] })).state, undefined);
  });

  it('refuses missing and unsupported response types', async () => {
    assert.equal((await redirectError({ ...valid, response_type: undefined })).error.code, 'invalid_request');
    assert.equal((await redirectError({ ...valid, response_type: 'token' })).error.code, 'unsupported_response_type');
  });

  it('requires PKCE S256 from public clients and refuses plain (RFC 9700 §2.1.1)', async () => {
    const base = { response_type: 'code', client_id: 'p1', scope: 'read', state: 'x' };
    assert.equal((await redirectError(base)).error.code, 'invalid_request');
    assert.equal((await redirectError({ ...base, code_challenge: CHALLENGE, code_challenge_method: 'plain' })).error.code, 'invalid_request');
    assert.equal((await redirectError({ ...base, code_challenge: CHALLENGE })).error.code, 'invalid_request');
    assert.equal((await redirectError({ ...base, code_challenge: 'short', code_challenge_method: 'S256' })).error.code, 'invalid_request');
    assert.equal((await redirectError({ ...valid, code_challenge_method: 'S256' })).error.code, 'invalid_request');
  });

  it('honours PKCE from confidential clients', async () => {
    const result = await validateAuthorizationRequest(deps, { ...valid, code_challenge: CHALLENGE, code_challenge_method: 'S256' });
    assert.equal(result.kind === 'valid' && result.request.codeChallenge, CHALLENGE);
  });

  it('refuses scopes the client may not ask for, malformed or missing scope', async () => {
    assert.equal((await redirectError({ ...valid, scope: 'admin' })).error.code, 'invalid_scope');
    assert.equal((await redirectError({ ...valid, scope: 'read  write' })).error.code, 'invalid_scope');
    assert.equal((await redirectError({ ...valid, scope: 'r"d' })).error.code, 'invalid_scope');
    assert.equal((await redirectError({ ...valid, scope: undefined })).error.code, 'invalid_scope');
  });

  it('never echoes input in error descriptions', async () => {
    const result = await redirectError({ ...valid, scope: '<script>alert(1)</script>' });
    assert.doesNotMatch(result.error.description, /script/);
    assert.match(result.error.description, /^[\x20-\x7e]+$/);
  });

  it('takes repeated resource parameters as the resource servers the request names (RFC 8707 §2)', async () => {
    const result = await validateAuthorizationRequest(deps, { ...valid, scope: 'read write', resource: ['https://api.example.com/', 'https://files.example.com/'] });
    assert.deepEqual(result.kind === 'valid' && result.request.resources, ['https://api.example.com/', 'https://files.example.com/']);
    const one = await validateAuthorizationRequest(deps, { ...valid, resource: 'https://api.example.com/' });
    assert.deepEqual(one.kind === 'valid' && one.request.resources, ['https://api.example.com/']);
    const none = await validateAuthorizationRequest(deps, valid);
    assert.equal(none.kind === 'valid' && none.request.resources, undefined);
  });

  it('redirects invalid_target for an unregistered, malformed or useless resource', async () => {
    for (const resource of ['https://unknown.example.com/', 'not a uri', 'relative/path', 'https://api.example.com/#frag', ['https://api.example.com/', 'x:']]) {
      assert.equal((await redirectError({ ...valid, resource })).error.code, 'invalid_target', String(resource));
    }
    // The files server accepts only `write`: a request for `read` alone at it could get no usable token.
    assert.equal((await redirectError({ ...valid, resource: 'https://files.example.com/' })).error.code, 'invalid_target');
  });

  it('refuses a request in the query from a client that must use PAR, and takes it pushed', async () => {
    const parOnly = { ...client, requirePar: true };
    const parDeps = { ...deps, findClient: async () => parOnly };
    const refused = await validateAuthorizationRequest(parDeps, valid);
    assert.equal(refused.kind === 'redirect-error' && refused.error.code, 'invalid_request');
    assert.equal((await validateAuthorizationRequest(parDeps, valid, { pushed: true })).kind, 'valid');
  });

  it('refuses a client that may not use the code grant', async () => {
    const noCode = { ...client, _id: 'n1', grantTypes: [] as ClientDoc['grantTypes'] };
    const result = await validateAuthorizationRequest({ ...deps, findClient: async () => noCode }, { ...valid, client_id: 'n1' });
    assert.equal(result.kind === 'redirect-error' && result.error.code, 'unauthorized_client');
  });
});

describe('parseScopeParameter', () => {
  it('splits on single spaces and collapses duplicates', () => {
    assert.deepEqual(parseScopeParameter('a b a'), ['a', 'b']);
    assert.equal(parseScopeParameter('a\tb'), 'invalid');
    assert.equal(parseScopeParameter(''), 'invalid');
    assert.equal(parseScopeParameter(undefined), undefined);
  });
});
