import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { sha256 } from '#shared/crypto.ts';
import type { ClientDoc } from '#shared/reference-data/clients.ts';
import { authenticateClient, CleanAuthStates, lockoutState, parseBasic, type ClientCredentials, type Deps } from '#shared/client-auth/authenticate-client.ts';
import { MemoryStore, TestClock, testClient, refusal } from './test-doubles.ts';

const SECRET = 'secret-with/special:chars+and spaces%';
const confidential = testClient({ _id: 'c_conf', secretHash: sha256(SECRET) });
const publicClient = testClient({ _id: 'c_pub', type: 'public' });

function setup() {
  const store = new MemoryStore();
  const clock = new TestClock();
  const metrics: string[] = [];
  const clients = new Map<string, ClientDoc>([[confidential._id, confidential], [publicClient._id, publicClient]]);
  const deps: Deps = {
    findClient: async (id) => clients.get(id),
    store,
    clock,
    log: { info: () => undefined, warn: () => undefined },
    metrics: { count: (name, labels) => void metrics.push(`${name}:${labels?.outcome}`) },
    maxFailures: 10,
    lockSeconds: 60,
  };
  return { deps, store, clock, metrics };
}

// RFC 6749 §2.3.1: form-urlencode each part, then base64 the pair.
const basic = (id: string, secret: string) =>
  `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`;
const creds = (c: Partial<ClientCredentials>): ClientCredentials => ({ authorization: undefined, clientId: undefined, clientSecret: undefined, ...c });


describe('authenticateClient', () => {
  it('accepts client_secret_basic with form-urlencoded credentials', async () => {
    const { deps } = setup();
    const result = await authenticateClient(deps, creds({ authorization: basic(confidential._id, SECRET) }));
    assert.equal(result.client._id, confidential._id);
    assert.equal(result.method, 'client_secret_basic');
  });

  it('accepts client_secret_post', async () => {
    const { deps } = setup();
    const result = await authenticateClient(deps, creds({ clientId: confidential._id, clientSecret: SECRET }));
    assert.equal(result.method, 'client_secret_post');
  });

  it('accepts a public client by client_id alone', async () => {
    const { deps } = setup();
    const result = await authenticateClient(deps, creds({ clientId: publicClient._id }));
    assert.equal(result.method, 'none');
  });

  it('refuses a wrong secret, an unknown client and missing credentials with invalid_client', async () => {
    const { deps } = setup();
    for (const c of [
      creds({ authorization: basic(confidential._id, 'wrong') }),
      creds({ clientId: confidential._id, clientSecret: 'wrong' }),
      creds({ clientId: 'c_unknown', clientSecret: SECRET }),
      creds({ clientId: confidential._id }),
      creds({}),
      creds({ authorization: 'Bearer abc' }),
      creds({ authorization: 'Basic !!!' }),
      creds({ authorization: `Basic ${Buffer.from('no-colon').toString('base64')}` }),
      creds({ authorization: `Basic ${Buffer.from('%E0%A4%A:x').toString('base64')}` }),
    ]) {
      const error = await refusal(authenticateClient(deps, c));
      assert.equal(error.code, 'invalid_client');
      assert.equal(error.status, 401);
      assert.equal(error.description, 'Client authentication failed.');
    }
  });

  it('refuses a public client that presents a secret', async () => {
    const { deps } = setup();
    assert.equal((await refusal(authenticateClient(deps, creds({ clientId: publicClient._id, clientSecret: 'x' })))).code, 'invalid_client');
    assert.equal((await refusal(authenticateClient(deps, creds({ authorization: basic(publicClient._id, 'x') })))).code, 'invalid_client');
  });

  it('refuses two authentication methods at once with invalid_request', async () => {
    const { deps } = setup();
    const error = await refusal(authenticateClient(deps, creds({
      authorization: basic(confidential._id, SECRET), clientId: confidential._id, clientSecret: SECRET,
    })));
    assert.equal(error.code, 'invalid_request');
    const other = await refusal(authenticateClient(deps, creds({ authorization: basic(confidential._id, SECRET), clientId: 'c_other' })));
    assert.equal(other.code, 'invalid_request');
  });

  it('allows client_id in the body beside Basic when it names the same client', async () => {
    const { deps } = setup();
    const result = await authenticateClient(deps, creds({ authorization: basic(confidential._id, SECRET), clientId: confidential._id }));
    assert.equal(result.client._id, confidential._id);
  });

  it('locks after 10 consecutive failures for 60 s, refusing even the right secret, then recovers', async () => {
    const { deps, clock, metrics } = setup();
    for (let i = 0; i < 10; i++) await refusal(authenticateClient(deps, creds({ clientId: confidential._id, clientSecret: 'wrong' })));
    const locked = await refusal(authenticateClient(deps, creds({ clientId: confidential._id, clientSecret: SECRET })));
    assert.equal(locked.code, 'invalid_client');
    assert.equal(locked.description, 'Client authentication failed.');
    assert.ok(metrics.includes('client_auth:locked'));
    clock.advance(59);
    await refusal(authenticateClient(deps, creds({ clientId: confidential._id, clientSecret: SECRET })));
    clock.advance(2);
    const result = await authenticateClient(deps, creds({ clientId: confidential._id, clientSecret: SECRET }));
    assert.equal(result.client._id, confidential._id);
  });

  it('resets the run of failures on success, so failures must be consecutive', async () => {
    const { deps, store } = setup();
    for (let i = 0; i < 9; i++) await refusal(authenticateClient(deps, creds({ clientId: confidential._id, clientSecret: 'wrong' })));
    await authenticateClient(deps, creds({ clientId: confidential._id, clientSecret: SECRET }));
    assert.equal(store.authEvents.at(-1)?.kind, 'reset');
    for (let i = 0; i < 9; i++) await refusal(authenticateClient(deps, creds({ clientId: confidential._id, clientSecret: 'wrong' })));
    await authenticateClient(deps, creds({ clientId: confidential._id, clientSecret: SECRET }));
    const writes = store.authEvents.length;
    await authenticateClient(deps, creds({ clientId: confidential._id, clientSecret: SECRET }));
    assert.equal(store.authEvents.length, writes, 'a success after a success writes nothing');
  });

  it('locks again after 10 more failures once a lock has ended', async () => {
    const { deps, clock } = setup();
    for (let i = 0; i < 10; i++) await refusal(authenticateClient(deps, creds({ clientId: confidential._id, clientSecret: 'wrong' })));
    clock.advance(61);
    for (let i = 0; i < 9; i++) await refusal(authenticateClient(deps, creds({ clientId: confidential._id, clientSecret: 'wrong' })));
    await authenticateClient(deps, creds({ clientId: confidential._id, clientSecret: SECRET }));
    for (let i = 0; i < 10; i++) await refusal(authenticateClient(deps, creds({ clientId: confidential._id, clientSecret: 'wrong' })));
    await refusal(authenticateClient(deps, creds({ clientId: confidential._id, clientSecret: SECRET })));
  });
});

describe('authenticateClient with CleanAuthStates', () => {
  function cachedSetup() {
    const context = setup();
    const reads = { count: 0 };
    const read = context.store.recentClientAuthEvents.bind(context.store);
    context.store.recentClientAuthEvents = async (...args) => {
      reads.count++;
      return read(...args);
    };
    context.deps.cleanStates = new CleanAuthStates(1000);
    return { ...context, reads };
  }

  it('reads a clean client\u2019s events at most once a second', async () => {
    const { deps, clock, reads } = cachedSetup();
    for (let i = 0; i < 5; i++) await authenticateClient(deps, creds({ clientId: confidential._id, clientSecret: SECRET }));
    assert.equal(reads.count, 1);
    clock.advance(1);
    await authenticateClient(deps, creds({ clientId: confidential._id, clientSecret: SECRET }));
    assert.equal(reads.count, 2);
  });

  it('forgets the client at a failure: the next attempt reads again, and 10 failures still lock it', async () => {
    const { deps, reads } = cachedSetup();
    await authenticateClient(deps, creds({ clientId: confidential._id, clientSecret: SECRET }));
    await refusal(authenticateClient(deps, creds({ clientId: confidential._id, clientSecret: 'wrong' })));
    const before = reads.count;
    await authenticateClient(deps, creds({ clientId: confidential._id, clientSecret: SECRET }));
    assert.ok(reads.count > before, 'read again after a failure');
    for (let i = 0; i < 10; i++) await refusal(authenticateClient(deps, creds({ clientId: confidential._id, clientSecret: 'wrong' })));
    assert.equal((await refusal(authenticateClient(deps, creds({ clientId: confidential._id, clientSecret: SECRET })))).code, 'invalid_client');
  });

  it('does not take a success that raced a failure as clean', () => {
    const states = new CleanAuthStates(1000);
    const now = new Date('2030-01-01T00:00:00Z');
    const seen = states.generation('c');
    states.forget('c'); // a failure lands while the success is in flight
    states.remember('c', seen, now);
    assert.equal(states.isClean('c', now), false);
    states.remember('c', states.generation('c'), now);
    assert.equal(states.isClean('c', now), true);
    assert.equal(states.isClean('c', new Date(now.getTime() + 1000)), false, 'only for the cache time');
  });
});

describe('lockoutState', () => {
  const t0 = new Date('2030-01-01T00:00:00Z');
  const at = (s: number) => new Date(t0.getTime() + s * 1000);
  it('counts failures back to the last reset or lock, and holds a lock for its time', () => {
    assert.deepEqual(lockoutState([], t0, 60), { failures: 0, lockedUntil: null });
    assert.deepEqual(lockoutState([{ kind: 'failure', createdAt: t0 }, { kind: 'failure', createdAt: t0 }, { kind: 'reset', createdAt: t0 }, { kind: 'failure', createdAt: t0 }], t0, 60),
      { failures: 2, lockedUntil: null });
    assert.deepEqual(lockoutState([{ kind: 'lock', createdAt: t0 }, { kind: 'failure', createdAt: t0 }], at(10), 60), { failures: 0, lockedUntil: at(60) });
    assert.deepEqual(lockoutState([{ kind: 'failure', createdAt: at(70) }, { kind: 'lock', createdAt: t0 }], at(70), 60), { failures: 1, lockedUntil: null });
  });
});

describe('parseBasic', () => {
  it('decodes form-urlencoding, including + as space', () => {
    const header = `Basic ${Buffer.from('my%20client:a+b%3Ac').toString('base64')}`;
    assert.deepEqual(parseBasic(header), { clientId: 'my client', secret: 'a b:c' });
  });
  it('is case-insensitive in the scheme', () => {
    assert.equal(parseBasic(`basic ${Buffer.from('a:b').toString('base64')}`).clientId, 'a');
  });
});
