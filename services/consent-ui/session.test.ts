import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { sha256 } from '#shared/crypto.ts';
import { signOut } from './session.ts';
import { readSession } from '#shared/signed-in/session.ts';
import { memoryStore, testAudit, testClock } from './test-doubles.ts';

const ID = 'S'.repeat(43);

async function withSession(expiresInSeconds = 60) {
  const memory = memoryStore();
  const clock = testClock();
  await memory.store.createSession({
    _id: sha256(ID), sub: 'u_1', username: 'alice', authTime: clock.now(), createdAt: clock.now(),
    expiresAt: new Date(clock.now().getTime() + expiresInSeconds * 1000),
  });
  return { memory, clock };
}

describe('readSession', () => {
  it('finds the session by the hash of the cookie value', async () => {
    const { memory, clock } = await withSession();
    const session = await readSession({ store: memory.store, clock }, ID);
    assert.equal(session?.id, ID);
    assert.equal(session?.sub, 'u_1');
    assert.equal(session?.username, 'alice');
  });

  it('has no session for a missing, malformed, unknown or expired value', async () => {
    const { memory, clock } = await withSession(60);
    const deps = { store: memory.store, clock };
    for (const value of [undefined, '', 'short', `${ID}x`, `${'S'.repeat(42)}!`, 'T'.repeat(43)]) {
      assert.equal(await readSession(deps, value), undefined, String(value));
    }
    clock.advance(60);
    assert.equal(await readSession(deps, ID), undefined, 'expired');
  });
});

describe('signOut', () => {
  it('deletes the session and reports the sign-out', async () => {
    const { memory, clock } = await withSession();
    const audit = testAudit();
    const session = (await readSession({ store: memory.store, clock }, ID))!;
    await signOut({ store: memory.store, audit }, session);
    assert.equal(memory.sessions.size, 0);
    assert.deepEqual(audit.events, [{ type: 'oauth.logout', subject: 'alice', data: { sub: 'u_1', username: 'alice' } }]);
  });
});
