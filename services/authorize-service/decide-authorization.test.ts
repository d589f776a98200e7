// decideAuthorization with a hand-written store: one decision per request, and the same decision
// sent again (a retried internal request, a double click) answered with the same outcome.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { setImmediate as nextTurn } from 'node:timers/promises';
import type { Audit } from '#shared/audit/publish-audit-event.ts';
import { addSeconds, type Clock } from '#shared/clock.ts';
import { authorizationCodeSealer } from '#shared/grants/authorization-codes.ts';
import { isOAuthError } from '#shared/oauth-error.ts';
import { authorizationRequestSealer } from '#shared/grants/authorization-requests.ts';
import { decideAuthorization, type Deps } from './decide-authorization.ts';
import type { RecordedDecision } from './store.ts';

const kek = randomBytes(32);
const now = new Date('2030-01-01T00:00:00Z');
const later = addSeconds(now, 5);

const registered = { redirectUris: ['https://client.example/cb'], scopes: ['orders', 'profile'] };

/** `client`: as the reference data has it now (null: deleted). */
function setup(client: { disabled?: boolean; redirectUris: string[]; scopes: string[] } | null = registered) {
  const recorded = new Map<string, RecordedDecision>();
  let current = now;
  const clock: Clock = { now: () => current };
  /** Each emitted event as its type, key and time: one key, one event id (cloudEvent). */
  const events: string[] = [];
  /** While holding, each emit settles only when its releaser in `held` is called. */
  const held: (() => void)[] = [];
  let holding = false;
  const audit: Audit = {
    emit: (type, _subject, _data, once) => {
      events.push(`${type} ${once?.key} ${once?.at.toISOString()}`);
      return holding ? new Promise((settle) => held.push(settle)) : Promise.resolve();
    },
  };
  const codes = authorizationCodeSealer(kek);
  const requests = authorizationRequestSealer(kek);
  const deps: Deps = {
    store: {
      claimDecision: async (id, decision, at) => {
        if (recorded.has(id)) return false;
        recorded.set(id, { approved: decision.approved, decidedAt: at, sub: decision.sub, ...(decision.grantId ? { grantId: decision.grantId } : {}) });
        return true;
      },
      findDecision: async (id) => recorded.get(id),
    },
    requests, codes, clock, audit, issuer: 'https://as.example', codeTtlSeconds: 60, findClient: async () => client ?? undefined,
  };
  const handle = requests.seal({
    id: 'req1', clientId: 'c1', redirectUri: 'https://client.example/cb', redirectUriSent: true, scopes: ['orders'], state: 'st', codeChallenge: 'x'.repeat(43),
  } as never, addSeconds(now, 600));
  const decision = (approve: boolean, sub = 'u1') => ({ handle, approve, sub, username: 'alice', authTime: now });
  const grantOf = (redirectTo: string) => codes.open(new URL(redirectTo).searchParams.get('code')!)!.payload.grantId;
  const advanceClock = () => { current = later; };
  const holdEvents = () => { holding = true; };
  return { deps, decision, events, grantOf, advanceClock, holdEvents, held };
}

const at = (date: Date) => date.toISOString();

describe('decideAuthorization', () => {
  it('answers the same approval sent again with a code for the same grant, and its events again under the same ids', async () => {
    const { deps, decision, events, grantOf, advanceClock } = setup();
    const first = await decideAuthorization(deps, decision(true));
    const grantId = grantOf(first.redirectTo);
    assert.deepEqual(events, [`oauth.authorization.approved ${grantId} ${at(now)}`, `oauth.code.issued ${grantId} ${at(now)}`]);
    advanceClock();
    const again = await decideAuthorization(deps, decision(true));
    assert.equal(grantOf(again.redirectTo), grantId);
    assert.deepEqual({ ...again, redirectTo: '' }, { ...first, redirectTo: '' });
    assert.deepEqual(again.approved, { grantId, decidedAt: now }, 'the grant and its time, as first decided (consent-ui reports the consent by them)');
    assert.deepEqual(events.slice(2), events.slice(0, 2), 'sent again, kept once (same ids and time)');
  });

  it('answers the same denial sent again with the same redirect, and its event again under the same id', async () => {
    const { deps, decision, events, advanceClock } = setup();
    const first = await decideAuthorization(deps, decision(false));
    advanceClock();
    assert.deepEqual(await decideAuthorization(deps, decision(false)), first);
    assert.deepEqual(events, [`oauth.authorization.denied req1 ${at(now)}`, `oauth.authorization.denied req1 ${at(now)}`]);
  });

  it('answers a decision, first or sent again, only once its events are safe', async () => {
    const { deps, decision, held, holdEvents } = setup();
    holdEvents();
    for (const attempt of ['first', 'again']) {
      let answered = false;
      const answer = decideAuthorization(deps, decision(true)).then(() => { answered = true; });
      while (held.length < 2) await nextTurn();
      await nextTurn();
      assert.equal(answered, false, `${attempt}: no answer while the events are not safe`);
      for (const release of held.splice(0)) release();
      await answer;
    }
  });

  it('announces a decision whose first process died before its events were safe, when the decision is sent again', async () => {
    const { deps, decision, events, grantOf, advanceClock } = setup();
    // The first process claimed the decision, then died before its emits settled: nothing was announced.
    await deps.store.claimDecision('req1', { approved: true, sub: 'u1', grantId: 'g-claimed' }, now, addSeconds(now, 600));
    advanceClock();
    const again = await decideAuthorization(deps, decision(true));
    assert.equal(grantOf(again.redirectTo), 'g-claimed');
    assert.deepEqual(events, [`oauth.authorization.approved g-claimed ${at(now)}`, `oauth.code.issued g-claimed ${at(now)}`], 'at the time first decided');
  });

  it('refuses another decision, or the same one by another owner, as already answered', async () => {
    const { deps, decision } = setup();
    await decideAuthorization(deps, decision(true));
    for (const other of [decision(false), decision(true, 'u2')]) {
      const error = await decideAuthorization(deps, other).catch((e: unknown) => e);
      assert.ok(isOAuthError(error));
      assert.equal(error.code, 'invalid_request');
    }
  });

  it('answers nothing when the client no longer covers the request: deleted, disabled, its redirect URI or a scope removed', async () => {
    const refusals = [null, { ...registered, disabled: true }, { ...registered, redirectUris: ['https://client.example/other'] }, { ...registered, scopes: ['profile'] }];
    for (const client of refusals) {
      const { deps, decision, events } = setup(client);
      for (const approve of [true, false]) {
        await assert.rejects(decideAuthorization(deps, decision(approve)), (e: unknown) => isOAuthError(e) && e.code === 'invalid_request');
      }
      assert.deepEqual(events, [], 'nothing decided');
    }
  });
});
