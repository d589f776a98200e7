import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { OAuthError, unavailable } from '#shared/oauth-error.ts';
import { submitSignIn, type Deps, type SubmitSignInInput } from './submit-sign-in.ts';
import type { Decision } from './nats-client.ts';
import { AttemptGates } from './login-throttle.ts';
import { memoryStore, testAudit, testClock } from './test-doubles.ts';

const HANDLE = 'H'.repeat(43);
const alice = { sub: 'u_alice', username: 'alice', passwordHash: 'hash-of:correct horse' };
const request = { clientId: 'c_1', clientName: 'Shop', scopes: [{ name: 'orders', description: 'Read your orders' }], resources: [], expiresAt: new Date(Date.now() + 600_000) };

function setup(decide: (d: Decision) => Promise<string> = async () => 'https://shop.example/cb?code=abc') {
  const memory = memoryStore([alice]);
  const clock = testClock();
  const audit = testAudit();
  const decisions: Decision[] = [];
  let described = 0;
  const deps: Deps = {
    requests: {
      describe: async (handle) => {
        described++;
        if (handle !== HANDLE) throw new OAuthError('invalid_request', 'The authorization request is unknown, already answered or expired.');
        return request;
      },
    },
    signIn: {
      store: memory.store, clock, audit,
      passwords: { verify: async (hash, password) => hash === `hash-of:${password}`, decoyHash: async () => 'decoy', needsRehash: () => false, hash: async (p) => `hash-of:${p}` },
      policy: { maxFailures: 10, addressMaxFailures: 50, lockSeconds: 60, maxLockSeconds: 900, memorySeconds: 86_400 },
      sessionTtlSeconds: 3600,
      gates: new AttemptGates(),
      refusalFloorMs: 0,
      log: { warn: () => {} },
    },
    remembered: {
      store: memory.store, clock,
      nats: { decideAuthorization: async (d) => (decisions.push(d), { redirectTo: await decide(d), clientId: 'c_1', scopes: ['orders'] }) },
    },
  };
  const submit = (input: Partial<SubmitSignInInput> = {}) => submitSignIn(deps, {
    username: 'alice', password: 'correct horse', ip: '192.0.2.1', handle: HANDLE, previousSession: undefined, reqId: 'r', ...input,
  });
  return { memory, audit, decisions, described: () => described, submit };
}

describe('submitSignIn', () => {
  it('signs in for a pending request and sends the owner on to its consent page', async () => {
    const { audit, decisions, described, submit } = setup();
    const result = await submit();
    assert.equal(result.kind, 'signed-in');
    assert.deepEqual(result.kind === 'signed-in' && result.next, { to: 'request', handle: HANDLE });
    assert.equal(described(), 1);
    assert.equal(decisions.length, 0);
    assert.equal(audit.ofType('oauth.login.succeeded')[0]?.data.client_id, 'c_1', 'the sign-in is reported with its client');
  });

  it('approves at once, back to the client, when a remembered consent covers the request', async () => {
    const { memory, decisions, submit } = setup();
    await memory.store.recordGrant('u_alice', 'c_1', ['orders'], true, new Date());
    const result = await submit();
    assert.deepEqual(result.kind === 'signed-in' && result.next, { to: 'client', redirectTo: 'https://shop.example/cb?code=abc' });
    assert.equal(decisions[0]?.sub, 'u_alice');
  });

  it('still signs in when the remembered consent cannot approve, and sends the owner to the request, which says why', async () => {
    const failure = unavailable('timeout');
    const { memory, submit } = setup(async () => {
      throw failure;
    });
    await memory.store.recordGrant('u_alice', 'c_1', ['orders'], true, new Date());
    const result = await submit();
    assert.ok(result.kind === 'signed-in');
    assert.deepEqual(result.next, { to: 'request', handle: HANDLE });
    assert.equal(result.notApproved, failure);
  });

  it('without a pending request, sends the owner to Your authorizations', async () => {
    const { described, submit } = setup();
    const result = await submit({ handle: undefined });
    assert.deepEqual(result.kind === 'signed-in' && result.next, { to: 'authorizations' });
    assert.equal(described(), 0);
  });

  it('shows the sign-in page again, with the request, for a missing field and for a refused sign-in', async () => {
    const { memory, submit } = setup();
    assert.deepEqual(await submit({ password: '' }), { kind: 'retry', problem: 'missing', request });
    assert.deepEqual(await submit({ password: 'wrong' }), { kind: 'retry', problem: 'refused', request });
    assert.deepEqual(await submit({ username: 'nobody' }), { kind: 'retry', problem: 'refused', request });
    assert.equal(memory.sessions.size, 0);
  });

  it('passes on the error of an expired request, before any password is checked', async () => {
    const { audit, submit } = setup();
    await assert.rejects(submit({ handle: 'X'.repeat(43) }), (e: unknown) => e instanceof OAuthError && e.code === 'invalid_request');
    assert.equal(audit.events.length, 0);
  });
});
