import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type { Audit } from '#shared/audit/publish-audit-event.ts';
import type { ClientDoc } from '#shared/reference-data/clients.ts';
import { OAuthError } from '#shared/oauth-error.ts';
import { pushAuthorizationRequest, type Deps } from './push-authorization-request.ts';
import { pushedRequestSealer, REQUEST_URI_PREFIX } from './pushed-requests.ts';

const client: ClientDoc = {
  _id: 'c1', name: 'App', type: 'confidential', secretHash: 'x', redirectUris: ['https://app.example.com/cb'],
  scopes: ['read'], grantTypes: ['authorization_code'], accessTokenTtlSeconds: 600, refreshTokenTtlSeconds: 86400,
  createdAt: new Date(0), updatedAt: new Date(0),
};
const now = new Date('2030-01-01T00:00:00Z');
const CHALLENGE = 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM';
const params = { response_type: 'code', redirect_uri: 'https://app.example.com/cb', scope: 'read', code_challenge: CHALLENGE, code_challenge_method: 'S256' };

function setup() {
  const events: { type: string; subject: string; data: unknown }[] = [];
  const audit: Audit = { emit: async (type, subject, data) => { events.push({ type, subject, data }); } };
  const pushed = pushedRequestSealer(randomBytes(32));
  const deps: Deps = {
    validate: { findClient: async (id) => (id === client._id ? client : undefined), scopeExists: async (name) => name === 'read', resourceServer: async () => undefined },
    pushed, clock: { now: () => now }, audit, ttlSeconds: 60,
  };
  return { deps, pushed, events };
}

const refusal = (code: string) => (e: unknown) => e instanceof OAuthError && e.code === code;

describe('pushAuthorizationRequest (oauth.authorization.push from token-service)', () => {
  it('seals the request for the authenticated client, and audits oauth.authorization.pushed', async () => {
    const { deps, pushed, events } = setup();
    const result = await pushAuthorizationRequest(deps, { clientId: client._id, params });
    assert.equal(result.expiresIn, 60);
    assert.ok(result.requestUri.startsWith(REQUEST_URI_PREFIX));
    const opened = pushed.open(result.requestUri.slice(REQUEST_URI_PREFIX.length));
    assert.equal(opened?.payload.clientId, client._id);
    assert.deepEqual(opened?.payload.params, { ...params, client_id: client._id });
    assert.equal(opened?.expiresAt.getTime(), now.getTime() + 60_000);
    assert.deepEqual(events, [{ type: 'oauth.authorization.pushed', subject: client._id, data: { client_id: client._id, scope: 'read' } }]);
  });

  it('refuses request_uri in the pushed parameters and a client_id other than the authenticated one', async () => {
    const { deps, events } = setup();
    await assert.rejects(pushAuthorizationRequest(deps, { clientId: client._id, params: { ...params, request_uri: `${REQUEST_URI_PREFIX}x` } }), refusal('invalid_request'));
    await assert.rejects(pushAuthorizationRequest(deps, { clientId: client._id, params: { ...params, client_id: 'other' } }), refusal('invalid_request'));
    assert.equal(events.length, 0);
  });

  it('answers what /authorize would show or redirect as an OAuth error (RFC 9126 §2.3)', async () => {
    const { deps } = setup();
    await assert.rejects(pushAuthorizationRequest(deps, { clientId: client._id, params: { ...params, redirect_uri: 'https://evil.example/cb' } }), refusal('invalid_request'));
    await assert.rejects(pushAuthorizationRequest(deps, { clientId: 'unknown', params }), refusal('invalid_request'));
    await assert.rejects(pushAuthorizationRequest(deps, { clientId: client._id, params: { ...params, scope: 'admin' } }), refusal('invalid_scope'));
    await assert.rejects(pushAuthorizationRequest(deps, { clientId: client._id, params: { ...params, response_type: 'token' } }), refusal('unsupported_response_type'));
  });
});
