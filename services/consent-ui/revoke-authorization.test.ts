import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { unavailable } from '#shared/oauth-error.ts';
import { revokeAuthorization } from './revoke-authorization.ts';
import type { Session } from './session.ts';
import { memoryStore, testAudit } from './test-doubles.ts';

const session: Session = { id: 'S'.repeat(43), sub: 'u_1', username: 'alice', authTime: new Date(), expiresAt: new Date() };

describe('revokeAuthorization', () => {
  it('has token-service end the grants first, then deletes the consent and reports it', async () => {
    const memory = memoryStore();
    const audit = testAudit();
    await memory.store.recordGrant('u_1', 'c_1', ['orders'], true, new Date());
    const calls: string[] = [];
    const result = await revokeAuthorization({
      store: memory.store,
      audit,
      nats: {
        revokeConsent: async (sub, clientId) => {
          calls.push(`${sub} ${clientId}`);
          assert.ok(await memory.store.findConsent('u_1', 'c_1'), 'the consent is still there while token-service works');
          return 2;
        },
      },
    }, { session, clientId: 'c_1', reqId: 'r' });
    assert.deepEqual(result, { revokedFamilies: 2 });
    assert.deepEqual(calls, ['u_1 c_1']);
    assert.equal(await memory.store.findConsent('u_1', 'c_1'), null);
    assert.deepEqual(audit.events, [{ type: 'oauth.consent.revoked', subject: 'c_1', data: { client_id: 'c_1', sub: 'u_1', username: 'alice', count: 2 } }]);
  });

  it('keeps the consent when token-service does not answer, so the owner can try again', async () => {
    const memory = memoryStore();
    const audit = testAudit();
    await memory.store.recordGrant('u_1', 'c_1', ['orders'], true, new Date());
    const error = unavailable('no responders');
    await assert.rejects(revokeAuthorization({
      store: memory.store,
      audit,
      nats: { revokeConsent: async () => { throw error; } },
    }, { session, clientId: 'c_1', reqId: 'r' }), error);
    assert.ok(await memory.store.findConsent('u_1', 'c_1'));
    assert.equal(audit.events.length, 0);
  });
});
