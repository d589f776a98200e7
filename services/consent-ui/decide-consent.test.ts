import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { OAuthError, unavailable } from '#shared/oauth-error.ts';
import { decideConsent, type Deps } from './decide-consent.ts';
import type { Decision, DecisionOutcome } from './nats-client.ts';
import type { Session } from '#shared/signed-in/session.ts';
import { memoryStore, testAudit, testClock } from './test-doubles.ts';

const HANDLE = 'H'.repeat(43);
const session: Session = { id: 'S'.repeat(43), sub: 'u_1', username: 'alice', authTime: new Date('2030-01-01T00:00:00Z'), expiresAt: new Date('2030-01-02T00:00:00Z') };

const decided = (d: Decision): DecisionOutcome => ({
  redirectTo: d.approve ? 'https://shop.example/cb?code=abc' : 'https://shop.example/cb?error=access_denied',
  clientId: 'c_1',
  scopes: ['orders', 'profile'],
});

function setup(decide: (d: Decision) => Promise<DecisionOutcome> = async (d) => decided(d)) {
  const memory = memoryStore();
  const audit = testAudit();
  const decisions: Decision[] = [];
  let described = 0;
  const deps: Deps = {
    store: memory.store,
    clock: testClock(),
    audit,
    requests: {
      describe: async () => {
        described++;
        return { clientId: 'c_1', clientName: 'Shop', scopes: [{ name: 'orders', description: 'Read your orders' }, { name: 'profile', description: 'See your profile' }], resources: [], expiresAt: new Date(Date.now() + 600_000) };
      },
    },
    nats: {
      decideAuthorization: async (d) => {
        decisions.push(d);
        return decide(d);
      },
    },
  };
  return { deps, memory, audit, decisions, described: () => described };
}

describe('decideConsent', () => {
  it('Deny sends access_denied back and records nothing', async () => {
    const { deps, memory, audit, decisions, described } = setup();
    const to = await decideConsent(deps, { handle: HANDLE, session, approve: false, remember: true, reqId: 'r' });
    assert.equal(to, 'https://shop.example/cb?error=access_denied');
    assert.deepEqual(decisions, [{ handle: HANDLE, approve: false, sub: 'u_1', username: 'alice', authTime: session.authTime }]);
    assert.equal(described(), 0);
    assert.equal(memory.consents.size, 0);
    assert.equal(audit.events.length, 0);
  });

  it('Allow approves and records the grant; without Remember nothing is remembered', async () => {
    const { deps, memory, audit, decisions, described } = setup();
    const to = await decideConsent(deps, { handle: HANDLE, session, approve: true, remember: false, reqId: 'r' });
    assert.equal(to, 'https://shop.example/cb?code=abc');
    assert.equal(decisions[0]?.approve, true);
    const consent = await memory.store.findConsent('u_1', 'c_1');
    assert.deepEqual(consent?.grantedScopes, ['orders', 'profile']);
    assert.deepEqual(consent?.scopes, []);
    assert.equal(audit.events.length, 0);
    assert.equal(described(), 0, 'the decision names the client and scopes: no second request');
  });

  it('asks for the request only when the decision does not name its client and scopes (an earlier authorize-service)', async () => {
    const { deps, memory, described } = setup(async (d) => ({ redirectTo: decided(d).redirectTo }));
    assert.equal(await decideConsent(deps, { handle: HANDLE, session, approve: true, remember: true, reqId: 'r' }), 'https://shop.example/cb?code=abc');
    assert.equal(described(), 1);
    assert.deepEqual((await memory.store.findConsent('u_1', 'c_1'))?.scopes, ['orders', 'profile']);
  });

  it('reports the consent of a decision sent again (a double click) once: its id and time follow from the grant', async () => {
    const approved = { grantId: 'g_1', decidedAt: new Date('2030-01-01T00:00:05Z') };
    const { deps, audit } = setup(async (d) => ({ ...decided(d), approved }));
    for (let i = 0; i < 2; i++) await decideConsent(deps, { handle: HANDLE, session, approve: true, remember: true, reqId: 'r' });
    const granted = audit.ofType('oauth.consent.granted');
    assert.equal(granted.length, 2);
    for (const event of granted) assert.deepEqual(event.once, { key: 'g_1', at: approved.decidedAt });
  });

  it('Allow with Remember remembers the requested scopes and reports the consent', async () => {
    const { deps, memory, audit } = setup();
    await decideConsent(deps, { handle: HANDLE, session, approve: true, remember: true, reqId: 'r' });
    assert.deepEqual((await memory.store.findConsent('u_1', 'c_1'))?.scopes, ['orders', 'profile']);
    assert.deepEqual(audit.events, [{
      type: 'oauth.consent.granted', subject: 'c_1', data: { client_id: 'c_1', sub: 'u_1', username: 'alice', scope: 'orders profile' },
    }]);
  });

  it('records nothing when the decision is not taken (expired request, service down)', async () => {
    for (const error of [new OAuthError('invalid_request', 'expired'), unavailable('timeout')]) {
      const { deps, memory, audit } = setup(async () => {
        throw error;
      });
      await assert.rejects(decideConsent(deps, { handle: HANDLE, session, approve: true, remember: true, reqId: 'r' }), error);
      assert.equal(memory.consents.size, 0);
      assert.equal(audit.events.length, 0);
    }
  });
});
