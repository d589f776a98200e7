// oauth.authorization.decide: a pending authorization request gets exactly one decision, even
// when decisions race (consent-ui instances, double clicks).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startSystem, type SeededClient, type SeededUser, type System } from './helpers/system.ts';
import { authorizeUrl, pkcePair } from './helpers/oauth.ts';
import { Subjects } from '#shared/nats/subjects.ts';
import { announceReferenceDataChange } from '#shared/reference-data/reference-cache.ts';

let system: System;
let client: SeededClient;
let user: SeededUser;

before(async () => {
  system = await startSystem('decision', { services: ['authorize-service'] });
  client = await system.seed.client({ scopes: [await system.seed.scope()] });
  user = await system.seed.user();
});
after(() => system.stop());

async function pendingHandle(of: SeededClient = client): Promise<string> {
  const res = await fetch(authorizeUrl(system, {
    response_type: 'code', client_id: of.clientId, redirect_uri: of.redirectUri, scope: of.scopes.join(' '), state: 's',
    code_challenge: pkcePair().challenge, code_challenge_method: 'S256',
  }), { redirect: 'manual' });
  return new URL(res.headers.get('location')!).searchParams.get('handle')!;
}

const decide = (handle: string, decision: 'approve' | 'deny', authTime = Math.floor(Date.now() / 1000)) => system.nc.request(Subjects.authorizationDecide,
  JSON.stringify({ handle, decision, sub: user.sub, username: user.username, auth_time: authTime }), { timeout: 5000 });

describe(Subjects.authorizationDecide, () => {
  it('decides a request exactly once when 20 decisions race', async () => {
    for (let round = 0; round < 3; round++) {
      const handle = await pendingHandle();
      const replies = await Promise.all(Array.from({ length: 20 }, (_, i) => decide(handle, i % 2 ? 'approve' : 'deny')));
      // One decision lands; the same decision sent again gets its outcome (a retried request), the other one is refused.
      const answered = replies.filter((m) => !m.headers?.get('Nats-Service-Error'));
      const kinds = new Set(answered.map((m) => (new URL(m.json<{ redirect_to: string }>().redirect_to).searchParams.has('code') ? 'approve' : 'deny')));
      assert.equal(kinds.size, 1, 'one decision');
      assert.equal(answered.length, 10, 'every request with that decision answered with it');
      for (const refused of replies.filter((m) => m.headers?.get('Nats-Service-Error'))) assert.equal(refused.json<{ error: string }>().error, 'invalid_request');
    }
  });

  it('names the client and the scopes decided on in the reply, for approval and denial alike', async () => {
    for (const decision of ['approve', 'deny'] as const) {
      const reply = (await decide(await pendingHandle(), decision)).json<{ redirect_to: string; client_id: string; scopes: string[] }>();
      assert.ok(new URL(reply.redirect_to).searchParams.get(decision === 'approve' ? 'code' : 'error'));
      assert.equal(reply.client_id, client.clientId);
      assert.deepEqual(reply.scopes, client.scopes);
    }
  });

  it('refuses a sign-in time beyond what a Date holds with a 400, and leaves the request to be decided', async () => {
    const handle = await pendingHandle();
    for (const authTime of [1e300, 8_640_000_000_001]) {
      const refused = await decide(handle, 'approve', authTime);
      assert.equal(refused.headers?.get('Nats-Service-Error-Code'), '400', String(authTime));
    }
    const reply = (await decide(handle, 'approve')).json<{ redirect_to: string }>();
    assert.ok(new URL(reply.redirect_to).searchParams.get('code'));
  });

  it('refuses a decision for an unknown handle, and a malformed one with a service error', async () => {
    const unknown = await decide('x'.repeat(43), 'approve');
    assert.equal(unknown.headers?.get('Nats-Service-Error-Code'), '400');
    const malformed = await system.nc.request(Subjects.authorizationDecide, '{"handle": 1}', { timeout: 5000 });
    assert.equal(malformed.headers?.get('Nats-Service-Error-Code'), '400');
  });
});

describe(`${Subjects.authorizationDecide}: a client disabled during the request`, () => {
  it('gets no code for an approval once authorize-service knows the client is disabled', async () => {
    const disabled = await system.seed.client({ scopes: client.scopes });
    const handle = await pendingHandle(disabled);
    await system.db.collection('clients').updateOne({ _id: disabled.clientId as never }, { $set: { disabled: true } });
    announceReferenceDataChange(system.nc, 'clients');
    // Once a fresh request of the client is refused, the change has reached authorize-service.
    const deadline = Date.now() + 5000;
    while ((await fetch(authorizeUrl(system, { response_type: 'code', client_id: disabled.clientId, redirect_uri: disabled.redirectUri, scope: disabled.scopes.join(' '),
      state: 's', code_challenge: pkcePair().challenge, code_challenge_method: 'S256' }), { redirect: 'manual' })).status !== 400) {
      assert.ok(Date.now() < deadline, 'the disable reached authorize-service');
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const reply = await decide(handle, 'approve');
    assert.equal(reply.headers?.get('Nats-Service-Error-Code'), '400', 'no code');
  });
});

describe(Subjects.authorizationDescribe, () => {
  it('describes the client and scopes of a pending request, and says when it expires', async () => {
    const reply = (await system.nc.request(Subjects.authorizationDescribe, JSON.stringify({ handle: await pendingHandle() }), { timeout: 5000 }))
      .json<{ client_id: string; client_name: string; scopes: { name: string }[]; expires_at: number }>();
    assert.equal(reply.client_id, client.clientId);
    assert.deepEqual(reply.scopes.map((s) => s.name), client.scopes);
    const lifetime = reply.expires_at - Date.now() / 1000;
    assert.ok(lifetime > 500 && lifetime <= 600, `expires in ${lifetime} s (AUTHORIZATION_REQUEST_TTL_SECONDS is 600 by default)`);
  });
});
