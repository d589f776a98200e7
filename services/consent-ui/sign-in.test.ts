import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { sha256 } from '#shared/crypto.ts';
import { redactSecrets } from '#shared/logger.ts';
import { signIn, type Deps, type SignInInput } from './sign-in.ts';
import { AttemptGates, UnlockedKeys } from './login-throttle.ts';
import { memoryStore, testAudit, testClock } from './test-doubles.ts';

const alice = { sub: 'u_alice', username: 'alice', passwordHash: 'hash-of:correct horse' };
const DECOY = 'decoy-hash';

function setup(overrides: Partial<Deps['policy']> = {}, users = [alice]) {
  const memory = memoryStore(users);
  const clock = testClock();
  const audit = testAudit();
  const verified: string[] = [];
  const hashed: string[] = [];
  const warnings: unknown[] = [];
  const deps: Deps = {
    store: memory.store,
    clock,
    audit,
    passwords: {
      verify: async (hash, password) => {
        verified.push(hash);
        await new Promise((resolve) => setImmediate(resolve));
        return [`hash-of:${password}`, `old-hash-of:${password}`, `new-hash-of:${password}`].includes(hash);
      },
      decoyHash: async () => DECOY,
      needsRehash: (hash) => hash.startsWith('old-hash-of:'),
      hash: async (password) => (hashed.push(password), `new-hash-of:${password}`),
    },
    policy: { maxFailures: 10, addressMaxFailures: 50, lockSeconds: 60, maxLockSeconds: 900, memorySeconds: 86_400, ...overrides },
    sessionTtlSeconds: 3600,
    gates: new AttemptGates(),
    refusalFloorMs: 0,
    log: { warn: (...args: unknown[]) => void warnings.push(args) },
  };
  const attempt = (input: Partial<SignInInput> = {}) => signIn(deps, { username: 'alice', password: 'wrong', ip: '192.0.2.1', ...input });
  return { deps, memory, clock, audit, verified, hashed, warnings, attempt };
}

/** Milliseconds `work` took to settle. */
async function timed(work: () => Promise<unknown>): Promise<number> {
  const began = performance.now();
  await work();
  return performance.now() - began;
}

describe('signIn', () => {
  it('starts a session with a fresh random id, stored only as its hash, and reports the sign-in', async () => {
    const { memory, audit, clock, attempt } = setup();
    const result = await attempt({ password: 'correct horse', clientId: 'c_1' });
    assert.ok(result.ok);
    assert.match(result.session.id, /^[A-Za-z0-9_-]{43}$/);
    assert.equal(result.session.sub, 'u_alice');
    assert.deepEqual(result.session.authTime, clock.now());
    assert.equal(result.session.expiresAt.getTime() - clock.now().getTime(), 3600_000);
    assert.deepEqual([...memory.sessions.keys()], [sha256(result.session.id)]);
    assert.deepEqual(audit.events, [{
      type: 'oauth.login.succeeded', subject: 'alice',
      data: { username: 'alice', sub: 'u_alice', ip: '192.0.2.1', client_id: 'c_1' },
    }]);
    assert.equal(memory.failures.size, 0, 'a success leaves no attempt behind');
  });

  it('replaces a hash made under earlier settings when the right password is given, and only then', async () => {
    const bob = { sub: 'u_bob', username: 'bob', passwordHash: 'old-hash-of:battery staple' };
    const { memory, hashed, attempt } = setup({}, [alice, bob]);
    assert.equal((await attempt({ username: 'bob', password: 'wrong' })).ok, false);
    assert.equal(memory.users[1]!.passwordHash, 'old-hash-of:battery staple', 'a wrong password replaces nothing');
    assert.ok((await attempt({ username: 'bob', password: 'battery staple' })).ok);
    assert.equal(memory.users[1]!.passwordHash, 'new-hash-of:battery staple');
    assert.ok((await attempt({ username: 'alice', password: 'correct horse' })).ok);
    assert.equal(memory.users[0]!.passwordHash, alice.passwordHash, 'a hash under today\'s settings stays');
    assert.deepEqual(hashed, ['battery staple'], 'one hash made, for bob\'s first sign-in alone');
  });

  it('signs in all the same when the hash cannot be replaced, and logs neither hash nor password', async () => {
    const bob = { sub: 'u_bob', username: 'bob', passwordHash: 'old-hash-of:battery staple' };
    const { deps, memory, warnings, attempt } = setup({}, [alice, bob]);
    deps.store = {
      ...memory.store,
      replacePasswordHash: async (sub, checked) => {
        throw Object.assign(new Error(`write failed for filter { _id: "${sub}", passwordHash: "${checked}" }`), { code: 91 });
      },
    };
    assert.ok((await attempt({ username: 'bob', password: 'battery staple' })).ok);
    assert.equal(memory.users[1]!.passwordHash, 'old-hash-of:battery staple');
    assert.equal(warnings.length, 1);
    // As the service's logger writes it: an error's message and stack too, secret keys censored.
    const written = JSON.stringify(redactSecrets(warnings));
    assert.doesNotMatch(written, /hash-of|battery/);
    assert.match(written, /"errorCode":91/);
  });

  it('answers a refusal no sooner than the floor after the attempt began, whatever the reason; a success at once', async () => {
    const { deps, attempt } = setup({ maxFailures: 1 });
    deps.refusalFloorMs = 150;
    // A timer may fire a millisecond or two early by the clock read here (libuv's loop time is cached).
    for (const input of [{ username: 'nobody' }, { username: 'alice' }, { username: 'alice', password: 'correct horse' } /* now locked */]) {
      const took = await timed(async () => assert.equal((await attempt(input)).ok, false));
      assert.ok(took >= 145, `${JSON.stringify(input)} refused after ${took.toFixed(1)} ms`);
    }
    const { attempt: fresh, deps: freshDeps } = setup();
    freshDeps.refusalFloorMs = 30_000;
    const took = await timed(async () => assert.ok((await fresh({ password: 'correct horse' })).ok));
    assert.ok(took < 15_000, `a success held ${took.toFixed(0)} ms`);
  });

  it('answers a refusal slower than the floor at the next whole multiple of it, not at its own time', async () => {
    const { deps, attempt } = setup();
    deps.refusalFloorMs = 100;
    const check = deps.passwords.verify;
    deps.passwords.verify = async (hash, password) => (await new Promise((resolve) => setTimeout(resolve, 130)), check(hash, password));
    const took = await timed(async () => assert.equal((await attempt({ username: 'nobody' })).ok, false));
    assert.ok(took >= 195, `refused after ${took.toFixed(1)} ms`);
  });

  it('holds a refusal outside the gates: the next attempt of the key is checked meanwhile', async () => {
    // Two failures allowed: while the first attempt held its gate, the second would have to wait.
    const { deps, verified, attempt } = setup({ maxFailures: 2 });
    deps.refusalFloorMs = 2000; // wide, for a loaded machine: the second check must come within it
    let firstAnswered = false;
    const first = attempt().then((result) => ((firstAnswered = true), result));
    while (verified.length < 1) await new Promise((resolve) => setImmediate(resolve));
    // The first check is done; its answer waits for the floor while a second attempt goes through.
    await new Promise((resolve) => setTimeout(resolve, 20));
    const second = attempt();
    while (verified.length < 2) await new Promise((resolve) => setTimeout(resolve, 5));
    assert.equal(firstAnswered, false, 'the second password was checked before the first refusal was answered');
    assert.deepEqual([(await first).ok, (await second).ok], [false, false]);
  });

  it('answers once its events are safe, but leaves its gates first: the next attempt does not wait for them', async () => {
    const { deps, audit } = setup({ maxFailures: 1 }); // one password check of the account at a time
    const releasers: (() => void)[] = [];
    let twoEmitted!: () => void;
    const bothEmitted = new Promise<void>((resolve) => (twoEmitted = resolve));
    deps.audit = {
      emit: async (...event) => {
        await audit.emit(...event);
        if (audit.events.length === 2) twoEmitted();
        await new Promise<void>((resolve) => releasers.push(resolve));
      },
    };
    const answered: boolean[] = [];
    const attempts = [0, 1].map((i) => signIn(deps, { username: 'alice', password: 'correct horse', ip: `192.0.2.${i + 1}` }).then((r) => {
      answered.push(r.ok);
      return r;
    }));
    // Without the fix the second attempt waits for the first's gate, in vain, and is refused after ADMISSION_WAIT_MS.
    await bothEmitted;
    assert.deepEqual(audit.events.map((e) => e.type), ['oauth.login.succeeded', 'oauth.login.succeeded'], 'the second got its turn while the first event was pending');
    assert.deepEqual(answered, [], 'neither answers while its event could still be lost');
    for (const release of releasers) release();
    assert.deepEqual((await Promise.all(attempts)).map((r) => r.ok), [true, true]);
  });

  it('writes no failure for a usual sign-in, and clears the account only when it had failures', async () => {
    const { memory, attempt } = setup();
    const cleared: string[] = [];
    const clear = memory.store.clearLoginFailures.bind(memory.store);
    memory.store.clearLoginFailures = async (key) => {
      cleared.push(key);
      await clear(key);
    };
    assert.ok((await attempt({ password: 'correct horse' })).ok);
    assert.deepEqual(cleared, [], 'nothing to forget');
    assert.equal(memory.failures.size, 0);
    assert.equal((await attempt()).ok, false);
    assert.ok((await attempt({ password: 'correct horse' })).ok);
    assert.deepEqual(cleared, ['user:alice'], 'a failure before: the account is cleared');
    assert.deepEqual([...memory.failures.keys()], ['ip:192.0.2.1'], 'only the address keeps its failure');
  });

  it('finding 11: 12 simultaneous correct sign-ins of one account all succeed and leave it unlocked; only failures count', async () => {
    const { attempt, audit, memory, verified } = setup();
    const results = await Promise.all(Array.from({ length: 12 }, (_, i) => attempt({ password: 'correct horse', ip: `192.0.2.${i + 10}` })));
    assert.deepEqual(results.map((r) => r.ok), Array(12).fill(true));
    assert.equal(verified.length, 12);
    assert.equal(audit.ofType('oauth.login.locked').length, 0);
    assert.equal(memory.locks.size, 0);
    assert.equal(memory.failures.size, 0, 'no success is counted, for the account or an address');
    // With 9 failures on record, one password check at a time: the correct ones still all succeed.
    for (let i = 0; i < 9; i++) await attempt();
    const after = await Promise.all(Array.from({ length: 12 }, (_, i) => attempt({ password: 'correct horse', ip: `192.0.2.${i + 30}` })));
    assert.deepEqual(after.map((r) => r.ok), Array(12).fill(true));
    assert.equal(audit.ofType('oauth.login.locked').length, 0);
  });

  it('finding 11: 48 simultaneous failures check at most 10 passwords, count 10 failures and lock once', async () => {
    const { attempt, audit, memory, verified } = setup();
    const results = await Promise.all(Array.from({ length: 48 }, (_, i) => attempt({ password: `guess-${i}`, ip: `198.51.100.${i + 1}` })));
    assert.ok(results.every((r) => !r.ok));
    assert.ok(verified.length <= 10, `${verified.length} passwords checked`);
    assert.deepEqual(audit.ofType('oauth.login.locked').map((e) => e.data.count), [10]);
    assert.equal(memory.failures.get('user:alice')?.failures, 10, 'refused attempts are not counted');
    assert.deepEqual(await attempt({ password: 'correct horse' }), { ok: false }, 'locked');
  });

  it('with UnlockedKeys, reads locks it just saw absent at most once a second, and still refuses while locked', async () => {
    const { deps, memory, clock, verified, attempt } = setup();
    deps.unlocked = new UnlockedKeys(1000);
    let reads = 0;
    const read = memory.store.latestLoginLock.bind(memory.store);
    memory.store.latestLoginLock = async (key, now) => {
      reads++;
      return read(key, now);
    };
    assert.ok((await attempt({ password: 'correct horse' })).ok);
    assert.ok((await attempt({ password: 'correct horse' })).ok);
    assert.equal(reads, 2, 'the address and the account, once each');

    // Another instance sees ten failures and locks the account: this one has not read the lock yet.
    const now = clock.now();
    const later = new Date(now.getTime() + 86_400_000);
    for (let i = 0; i < 10; i++) await memory.store.addLoginFailure('user:alice', now, later);
    await memory.store.addLoginLock('user:alice', 1, now, new Date(now.getTime() + 60_000), later);
    const checked = verified.length;
    assert.deepEqual(await attempt({ password: 'correct horse' }), { ok: false }, 'over the allowance all the same');
    assert.equal(verified.length, checked, 'no password checked');
    clock.advance(1);
    assert.deepEqual(await attempt({ password: 'correct horse' }), { ok: false }, 'and locked once the lock is read');
    assert.equal(verified.length, checked);

    // A lock set here is read at once.
    const own = setup();
    own.deps.unlocked = new UnlockedKeys(1000);
    for (let i = 0; i < 10; i++) await own.attempt();
    assert.deepEqual(await own.attempt({ password: 'correct horse' }), { ok: false });
    assert.equal(own.verified.length, 10);
  });

  it('ends the session the browser had and never reuses its id', async () => {
    const { memory, attempt } = setup();
    const first = await attempt({ password: 'correct horse' });
    assert.ok(first.ok);
    const second = await attempt({ password: 'correct horse', previousSession: first.session });
    assert.ok(second.ok);
    assert.notEqual(second.session.id, first.session.id);
    assert.deepEqual([...memory.sessions.keys()], [sha256(second.session.id)]);
  });

  it('gives an unknown user and a wrong password the same answer, checking the unknown one against the decoy hash', async () => {
    const { attempt, verified, audit, memory } = setup();
    const unknown = await attempt({ username: 'mallory', password: 'correct horse' });
    const wrong = await attempt({ password: 'nope' });
    assert.deepEqual(unknown, { ok: false });
    assert.deepEqual(wrong, unknown);
    assert.deepEqual(verified, [DECOY, alice.passwordHash]);
    assert.deepEqual(audit.events.map((e) => [e.type, e.subject, e.data.reason]), [
      ['oauth.login.failed', 'mallory', 'unknown_user'],
      ['oauth.login.failed', 'alice', 'wrong_password'],
    ]);
    assert.equal(memory.sessions.size, 0);
    assert.ok(!JSON.stringify(audit.events).includes('nope'), 'never the password');
  });

  it('locks the account for 60 s after 10 consecutive failures, refusing even the right password without checking it', async () => {
    const { attempt, verified, audit, clock } = setup();
    for (let i = 0; i < 10; i++) assert.deepEqual(await attempt(), { ok: false });
    assert.equal(verified.length, 10);
    const locked = audit.ofType('oauth.login.locked');
    assert.deepEqual(locked, [{ type: 'oauth.login.locked', subject: 'alice', data: { username: 'alice', ip: '192.0.2.1', reason: 'account', count: 10 } }]);

    clock.advance(59);
    assert.deepEqual(await attempt({ password: 'correct horse' }), { ok: false });
    assert.deepEqual(await attempt({ password: 'correct horse', ip: '198.51.100.9' }), { ok: false }, 'from anywhere');
    assert.equal(verified.length, 10, 'no password checked while locked');
    assert.deepEqual(audit.ofType('oauth.login.failed').slice(-2).map((e) => e.data.reason), ['account_locked', 'account_locked']);

    clock.advance(1);
    assert.ok((await attempt({ password: 'correct horse' })).ok, 'the lock ends after 60 s');
  });

  it('lets one attempt through after each lock and doubles the next lock, up to the cap', async () => {
    const { attempt, clock, audit } = setup({ maxLockSeconds: 200 });
    for (let i = 0; i < 10; i++) await attempt();
    // 60 s, then 120 s, then 240 s capped at 200 s.
    for (const wait of [60, 120, 200, 200]) {
      clock.advance(wait - 1);
      assert.deepEqual(await attempt({ password: 'correct horse' }), { ok: false }, 'still locked');
      clock.advance(1);
      const before = audit.ofType('oauth.login.locked').length;
      await attempt();
      assert.equal(audit.ofType('oauth.login.locked').length, before + 1, 'the one attempt after a lock locks again');
    }
  });

  it('a success resets the count: ten more failures are needed for a lock', async () => {
    const { attempt, audit } = setup();
    for (let i = 0; i < 9; i++) await attempt();
    assert.ok((await attempt({ password: 'correct horse' })).ok);
    for (let i = 0; i < 9; i++) await attempt();
    assert.ok((await attempt({ password: 'correct horse' })).ok);
    assert.equal(audit.ofType('oauth.login.locked').length, 0);
  });

  it('treats an unknown username like a known one: it locks too', async () => {
    const { attempt, audit, verified } = setup();
    for (let i = 0; i < 11; i++) await attempt({ username: 'mallory' });
    assert.equal(verified.length, 10);
    assert.equal(audit.ofType('oauth.login.locked')[0]?.subject, 'mallory');
  });

  it('locks a client address after its failures across accounts, and only that address', async () => {
    const { attempt, audit } = setup({ addressMaxFailures: 5 });
    for (let i = 0; i < 5; i++) await attempt({ username: `user${i}`, ip: '2001:db8:1:1::1' });
    const [locked] = audit.ofType('oauth.login.locked');
    assert.deepEqual(locked, { type: 'oauth.login.locked', subject: '2001:db8:1:1::/64', data: { ip: '2001:db8:1:1::/64', reason: 'address', count: 5 } });
    assert.deepEqual(await attempt({ password: 'correct horse', ip: '2001:db8:1:1::2' }), { ok: false }, 'the same /64');
    assert.equal(audit.events.at(-1)?.data.reason, 'address_locked');
    assert.ok((await attempt({ password: 'correct horse', ip: '2001:db8:1:2::2' })).ok, 'another network');
  });

  it('does not count successes against a client address', async () => {
    const { attempt, audit } = setup({ addressMaxFailures: 3 });
    for (let i = 0; i < 5; i++) assert.ok((await attempt({ password: 'correct horse' })).ok);
    assert.equal(audit.ofType('oauth.login.locked').length, 0);
  });

  it('forgets failures after the memory period', async () => {
    const { attempt, clock, audit } = setup({ memorySeconds: 3600 });
    for (let i = 0; i < 9; i++) await attempt();
    clock.advance(3600);
    for (let i = 0; i < 9; i++) await attempt();
    assert.equal(audit.ofType('oauth.login.locked').length, 0);
  });

  it('checks at most 10 passwords when 30 guesses arrive at once, and reports the lock once', async () => {
    const { attempt, verified, audit } = setup();
    const results = await Promise.all(Array.from({ length: 30 }, (_, i) => attempt({ password: `guess-${i}`, ip: `192.0.2.${i + 10}` })));
    assert.ok(results.every((r) => !r.ok));
    assert.ok(verified.length <= 10, `${verified.length} passwords checked`);
    assert.equal(audit.ofType('oauth.login.locked').length, 1);
    assert.deepEqual(await attempt({ password: 'correct horse' }), { ok: false }, 'locked');
  });
});
