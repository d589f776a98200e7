import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { isOAuthError, unavailable } from '#shared/oauth-error.ts';
import { revokeAuthorization, type Deps } from './revoke-authorization.ts';
import { approveRemembered } from './approve-remembered.ts';
import type { Session } from '#shared/signed-in/session.ts';
import { memoryStore, testAudit, testClock } from './test-doubles.ts';

const session: Session = { id: 'S'.repeat(43), sub: 'u_1', username: 'alice', authTime: new Date(), expiresAt: new Date() };
const request = { clientId: 'c_1', clientName: 'Shop', scopes: [{ name: 'orders', description: 'Read your orders' }], resources: [], expiresAt: new Date(Date.now() + 600_000) };

/**
 * consent-ui between two fakes on one logical clock: token-service records the subject_client
 * cut-off at its "now", authorize-service stamps each code with its "now". A delivered code
 * stamped after the cut-off is a grant that outlives the owner's revoke.
 */
function world() {
  const memory = memoryStore();
  const audit = testAudit();
  const clock = testClock();
  let time = 0;
  let cutOff: number | undefined;
  const issued: number[] = [];
  const hooks: { duringRevoke?: () => Promise<unknown>; beforeDecision?: () => Promise<unknown> } = {};
  const revokeDeps: Deps = {
    store: memory.store, audit, clock,
    nats: {
      revokeConsent: async () => {
        cutOff = ++time;
        const during = hooks.duringRevoke;
        hooks.duringRevoke = undefined;
        await during?.();
        return 1;
      },
    },
  };
  const rememberedDeps = {
    store: memory.store, clock,
    nats: {
      decideAuthorization: async () => {
        const before = hooks.beforeDecision;
        hooks.beforeDecision = undefined;
        await before?.();
        const at = ++time;
        issued.push(at);
        return { redirectTo: `https://shop.example/cb?code=${at}`, clientId: 'c_1', scopes: ['orders'] };
      },
    },
  };
  const revoke = () => revokeAuthorization(revokeDeps, { session, clientId: 'c_1', reqId: 'r' });
  /** The code the browser gets (undefined: none; the owner is asked, or the request is over). */
  const approve = async () => {
    try {
      const to = await approveRemembered(rememberedDeps, { handle: 'H'.repeat(43), session, request, reqId: 'r' });
      return to === undefined ? undefined : Number(new URL(to).searchParams.get('code'));
    } catch (error) {
      if (isOAuthError(error) && error.code === 'invalid_request') return undefined;
      throw error;
    }
  };
  const outlives = (code: number | undefined) => code !== undefined && cutOff !== undefined && code > cutOff;
  return { memory, audit, revokeDeps, hooks, revoke, approve, outlives, issued, cutOff: () => cutOff };
}

describe('revokeAuthorization', () => {
  it('finding 6: an approval through the remembered consent while the owner revokes never outlives the revoke', async () => {
    // (a) The approval runs between the cut-off and the end of the revoke.
    const a = world();
    await a.memory.store.recordGrant('u_1', 'c_1', ['orders'], true, new Date());
    let during: number | undefined;
    a.hooks.duringRevoke = async () => { during = await a.approve(); };
    await a.revoke();
    assert.ok(a.cutOff() !== undefined);
    assert.equal(a.outlives(during), false, `code ${during} delivered after the cut-off ${a.cutOff()}`);

    // (b) The approval read the consent before the revoke (a cached or in-flight read) and its code
    // is issued after the whole revoke is done.
    const b = world();
    await b.memory.store.recordGrant('u_1', 'c_1', ['orders'], true, new Date());
    b.hooks.beforeDecision = () => b.revoke();
    const late = await b.approve();
    assert.equal(b.issued.length, 1, 'the decision was made');
    assert.equal(b.outlives(late), false, `code ${late} delivered after the cut-off ${b.cutOff()}`);
    assert.equal(await b.memory.store.findConsent('u_1', 'c_1'), null, 'and no consent is left to approve with');
  });

  it('deletes the remembered consent before token-service records the cut-off, and reports the revoke', async () => {
    const w = world();
    await w.memory.store.recordGrant('u_1', 'c_1', ['orders'], true, new Date());
    w.hooks.duringRevoke = async () => assert.equal(await w.memory.store.findConsent('u_1', 'c_1'), null, 'gone before the cut-off');
    assert.deepEqual(await w.revoke(), { revokedFamilies: 1 });
    assert.equal(await w.memory.store.findConsent('u_1', 'c_1'), null);
    assert.deepEqual(w.audit.events, [{ type: 'oauth.consent.revoked', subject: 'c_1', data: { client_id: 'c_1', sub: 'u_1', username: 'alice', count: 1 } }]);
  });

  it('finding 6: when token-service does not answer after the delete, the owner gets the error and the client stays listed, no longer remembered', async () => {
    const w = world();
    await w.memory.store.recordGrant('u_1', 'c_1', ['orders', 'profile'], true, new Date());
    const error = unavailable('no responders');
    await assert.rejects(revokeAuthorization({ ...w.revokeDeps, nats: { revokeConsent: async () => { throw error; } } },
      { session, clientId: 'c_1', reqId: 'r' }), error);
    const kept = await w.memory.store.findConsent('u_1', 'c_1');
    assert.deepEqual(kept?.grantedScopes, ['orders', 'profile'], 'listed, so Revoke can be pressed again');
    assert.deepEqual(kept?.scopes, [], 'nothing is approved through it any more');
    assert.equal(await w.approve(), undefined);
    assert.equal(w.audit.events.length, 0);
    assert.deepEqual(await w.revoke(), { revokedFamilies: 1 }, 'the retry works');
  });
});
