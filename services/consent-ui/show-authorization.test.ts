import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { OAuthError } from '#shared/oauth-error.ts';
import { showAuthorization, type Deps } from './show-authorization.ts';
import type { Decision } from './nats-client.ts';
import type { Session } from '#shared/signed-in/session.ts';
import { memoryStore, testClock } from './test-doubles.ts';

const HANDLE = 'H'.repeat(43);
const request = {
  clientId: 'c_1', clientName: 'Shop',
  scopes: [{ name: 'orders', description: 'Read your orders' }, { name: 'profile', description: 'See your profile' }],
  resources: [],
  expiresAt: new Date('2030-01-01T00:10:00Z'),
};
const session: Session = { id: 'S'.repeat(43), sub: 'u_1', username: 'alice', authTime: new Date('2030-01-01T00:00:00Z'), expiresAt: new Date('2030-01-02T00:00:00Z') };

function setup() {
  const memory = memoryStore();
  const decisions: Decision[] = [];
  const deps: Deps = {
    store: memory.store,
    clock: testClock(),
    requests: {
      describe: async (handle) => {
        if (handle !== HANDLE) throw new OAuthError('invalid_request', 'The authorization request is unknown, already answered or expired.');
        return request;
      },
    },
    nats: {
      decideAuthorization: async (decision) => {
        decisions.push(decision);
        return { redirectTo: 'https://shop.example/cb?code=abc&state=s&iss=x', clientId: 'c_1', scopes: ['orders', 'profile'] };
      },
    },
  };
  return { deps, memory, decisions };
}

describe('showAuthorization', () => {
  it('asks to sign in when no one is signed in', async () => {
    const { deps, decisions } = setup();
    assert.deepEqual(await showAuthorization(deps, { handle: HANDLE, session: undefined, reqId: 'r' }), { kind: 'sign-in', request });
    assert.equal(decisions.length, 0);
  });

  it('asks for consent when nothing is remembered, or only some of the requested scopes', async () => {
    const { deps, memory, decisions } = setup();
    assert.deepEqual(await showAuthorization(deps, { handle: HANDLE, session, reqId: 'r' }), { kind: 'consent', request, session });
    await memory.store.recordGrant('u_1', 'c_1', ['orders', 'profile'], false, new Date());
    assert.equal((await showAuthorization(deps, { handle: HANDLE, session, reqId: 'r' })).kind, 'consent', 'granted once is not remembered');
    await memory.store.recordGrant('u_1', 'c_1', ['orders'], true, new Date());
    assert.equal((await showAuthorization(deps, { handle: HANDLE, session, reqId: 'r' })).kind, 'consent', 'profile is not remembered');
    await memory.store.recordGrant('u_2', 'c_1', ['orders', 'profile'], true, new Date());
    assert.equal((await showAuthorization(deps, { handle: HANDLE, session, reqId: 'r' })).kind, 'consent', 'another owner\u2019s consent');
    assert.equal(decisions.length, 0);
  });

  it('approves at once when a remembered consent covers every requested scope', async () => {
    const { deps, memory, decisions } = setup();
    await memory.store.recordGrant('u_1', 'c_1', ['orders', 'profile', 'payments'], true, new Date());
    const result = await showAuthorization(deps, { handle: HANDLE, session, reqId: 'r' });
    assert.deepEqual(result, { kind: 'redirect', redirectTo: 'https://shop.example/cb?code=abc&state=s&iss=x' });
    assert.deepEqual(decisions, [{ handle: HANDLE, approve: true, sub: 'u_1', username: 'alice', authTime: session.authTime }]);
  });

  it('records the grant for Your authorizations only when it adds a scope', async () => {
    const { deps, memory } = setup();
    const writes: string[][] = [];
    const record = memory.store.recordGrant.bind(memory.store);
    deps.store = {
      ...memory.store,
      recordGrant: async (sub, clientId, scopes, remember, now) => {
        writes.push(scopes);
        await record(sub, clientId, scopes, remember, now);
      },
    };
    await memory.store.recordGrant('u_1', 'c_1', ['orders', 'profile'], true, new Date());
    assert.equal((await showAuthorization(deps, { handle: HANDLE, session, reqId: 'r' })).kind, 'redirect');
    assert.deepEqual(writes, [], 'every requested scope was granted before: nothing to write');
  });

  it('takes the session while it is still being read', async () => {
    const { deps } = setup();
    assert.deepEqual(await showAuthorization(deps, { handle: HANDLE, session: Promise.resolve(session), reqId: 'r' }), { kind: 'consent', request, session });
    assert.equal((await showAuthorization(deps, { handle: HANDLE, session: Promise.resolve(undefined), reqId: 'r' })).kind, 'sign-in');
  });

  it('passes on the error of an unknown or expired request', async () => {
    const { deps } = setup();
    await assert.rejects(showAuthorization(deps, { handle: 'X'.repeat(43), session, reqId: 'r' }), (e: unknown) => e instanceof OAuthError && e.code === 'invalid_request');
  });
});
