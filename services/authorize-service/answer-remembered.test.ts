// answerRemembered with hand-written reads: the code at once only for a live session whose
// remembered consent (and recorded grant) covers the request, its grant starting when that consent
// was read (finding 6); anything else goes on to consent-ui, with nothing announced.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { sha256 } from '#shared/crypto.ts';
import type { Audit } from '#shared/audit/publish-audit-event.ts';
import { createLogger } from '#shared/logger.ts';
import { authorizationCodeSealer } from '#shared/grants/authorization-codes.ts';
import { revocableGrant } from '#shared/grants/refresh-tokens.ts';
import { RevocationSet } from '#shared/grants/revocation-set.ts';
import type { AuthorizationRequest } from '#shared/grants/authorization-requests.ts';
import type { CachedUser } from '#shared/reference-data/reference-cache.ts';
import { consentId, type ConsentDoc, type SessionDoc } from '#shared/signed-in/records.ts';
import { sessionCookieSentTo } from '#shared/signed-in/session.ts';
import { answerRemembered, type Deps } from './answer-remembered.ts';

const codes = authorizationCodeSealer(randomBytes(32));
const sessionId = 'S'.repeat(43);
const start = new Date('2030-01-01T00:00:00Z');
const signedInAt = new Date('2029-12-31T23:00:00Z');

const request: AuthorizationRequest = {
  clientId: 'c1', redirectUri: 'https://client.example/cb', redirectUriSent: true, scopes: ['orders'], state: 'st', codeChallenge: 'x'.repeat(43),
};

/** `consentReadAt`: when the consent's read was sent, as a cached answer says (default: the clock reading the caller passes). */
type SetupOptions = { remembered?: string[]; granted?: string[]; user?: Partial<CachedUser> | null; consentReadAt?: Date; holdEvents?: boolean };

function setup(options: SetupOptions = {}) {
  const steps: string[] = [];
  let nowMs = start.getTime();
  const session: SessionDoc = {
    _id: sha256(sessionId), sub: 'u1', username: 'alice', authTime: signedInAt, createdAt: signedInAt, expiresAt: new Date('2030-01-01T08:00:00Z'),
  };
  const remembered = options.remembered ?? ['orders', 'profile'];
  const consent: ConsentDoc = {
    _id: consentId('u1', 'c1'), sub: 'u1', clientId: 'c1', scopes: remembered, grantedScopes: options.granted ?? remembered, createdAt: start, updatedAt: start,
  };
  const events: { type: string; data: unknown }[] = [];
  // An emit settles when its event is safe (acked or in the outbox): at once, or with `holdEvents` when its releaser is called.
  const releasers: (() => void)[] = [];
  const audit: Audit = {
    emit: async (type, _subject, data) => {
      events.push({ type, data });
      if (options.holdEvents) await new Promise<void>((resolve) => releasers.push(resolve));
    },
  };
  const user = options.user === null ? undefined : { _id: 'u1', username: 'alice', groups: [], ...options.user } as CachedUser;
  const deps: Deps = {
    owners: {
      findSession: async (idHash, now) => (idHash === session._id && session.expiresAt > now ? session : null),
      findConsentAsOf: async (_sub, _clientId, now) => {
        steps.push('consent read');
        return { consent, readAt: options.consentReadAt ?? now };
      },
    },
    findUser: async () => user,
    clock: {
      now: () => {
        steps.push('clock');
        const now = new Date(nowMs);
        nowMs += 1000;
        return now;
      },
    },
    audit,
    code: { codes, issuer: 'https://as.example', codeTtlSeconds: 60 },
  };
  return { deps, events, steps, releasers };
}

const codeIn = (redirectTo: string) => codes.open(new URL(redirectTo).searchParams.get('code')!)!.payload;

describe('answerRemembered', () => {
  it('answers with a code for the owner, its grant starting when the consent was read, and announces the request, approval and code', async () => {
    const { deps, events, steps } = setup();
    const redirectTo = await answerRemembered(deps, request, sessionId);
    assert.ok(redirectTo !== undefined && redirectTo.startsWith('https://client.example/cb?'));
    const url = new URL(redirectTo);
    assert.equal(url.searchParams.get('state'), 'st');
    assert.equal(url.searchParams.get('iss'), 'https://as.example');
    const code = codeIn(redirectTo);
    assert.deepEqual({ sub: code.sub, username: code.username, scopes: code.scopes, clientId: code.clientId, authTime: code.authTime },
      { sub: 'u1', username: 'alice', scopes: ['orders'], clientId: 'c1', authTime: signedInAt.getTime() / 1000 });
    // The session read took the first clock reading, the consent read the second (its time), the decision the third;
    // the consent is read once, and the grant starts with that read.
    assert.deepEqual(steps, ['clock', 'clock', 'consent read', 'clock']);
    assert.equal(code.issuedAt, start.getTime() + 1000);
    assert.equal(codes.open(new URL(redirectTo).searchParams.get('code')!)!.expiresAt.getTime(), start.getTime() + 2000 + 60_000, 'the code lives from the decision');
    assert.deepEqual(events.map((e) => e.type), ['oauth.authorization.requested', 'oauth.authorization.approved', 'oauth.code.issued']);
    assert.ok(!JSON.stringify(events).includes(new URL(redirectTo).searchParams.get('code')!), 'no code in the events');
  });

  it('answers only once the request, approval and code events are safe (acked by JetStream or in the outbox)', async () => {
    // Each event in turn is the one still unsafe while the others are safe: the answer waits for it.
    for (const last of [0, 1, 2]) {
      const { deps, events, releasers } = setup({ holdEvents: true });
      let answered = false;
      const answering = answerRemembered(deps, request, sessionId).then(() => (answered = true));
      while (events.length < 3) await nextTurn();
      for (const [i, release] of releasers.entries()) if (i !== last) release();
      await nextTurn();
      assert.equal(answered, false, `no code leaves while ${events[last]!.type} could still be lost`);
      releasers[last]!();
      await answering;
    }
  });

  it('goes on to consent-ui without a session, with an unknown or malformed one, or for a user disabled or gone', async () => {
    for (const [cookie, user] of [[undefined, {}], ['T'.repeat(43), {}], ['short', {}], [sessionId, { disabled: true }], [sessionId, null],
      [sessionId, { accessEndedAt: new Date('2029-12-31T23:30:00Z') }]] as const) {
      const { deps, events } = setup({ user });
      assert.equal(await answerRemembered(deps, request, cookie), undefined, `${cookie} ${JSON.stringify(user)}`);
      assert.deepEqual(events, []);
    }
  });

  it('goes on to consent-ui when the remembered consent, or the grant recorded for it, does not cover every requested scope', async () => {
    for (const consent of [{ remembered: ['profile'] }, { remembered: ['orders'], granted: ['profile'] }, { remembered: [] }]) {
      const { deps, events } = setup(consent);
      assert.equal(await answerRemembered(deps, request, sessionId), undefined, JSON.stringify(consent));
      assert.deepEqual(events, []);
    }
  });

  it('finding 6: a code approved by a consent read before the owner\'s Revoke starts before its cut-off, which so covers it', async () => {
    // A read answered from the cache, sent 1.5 s before this request; the owner's Revoke deleted the
    // consent and recorded its cut-off after that read, before the code was made (its broadcast lost).
    const consentReadAt = new Date(start.getTime() - 1500);
    const { deps } = setup({ consentReadAt });
    const redirectTo = await answerRemembered(deps, request, sessionId);
    const code = codeIn(redirectTo!);
    assert.equal(code.issuedAt, consentReadAt.getTime(), 'the grant starts when the consent was read, not when the code was made');
    // What token-service checks before it redeems the code: the Revoke's cut-off covers this grant.
    const revocations = new RevocationSet({
      clock: { now: () => start }, log: createLogger('test', 'silent'), resyncMs: 60_000,
      subscribe: () => ({ unsubscribe() {} }), loadActive: async () => [], loadChangedSince: async () => [],
    });
    revocations.record({ kind: 'subject_client', key: 'u1 c1', issuedBeforeMs: start.getTime() - 1000, expiresAtMs: start.getTime() + 3_600_000 });
    assert.equal(revocations.isRevoked(revocableGrant(code.grantId, code.sub, code.clientId, code.issuedAt)), true);
  });
});

describe('sessionCookieSentTo', () => {
  it("names consent-ui's session cookie where browsers send it here too: the same scheme and host, any port", () => {
    assert.equal(sessionCookieSentTo('http://localhost:8080', 'http://localhost:8081'), 'session');
    assert.equal(sessionCookieSentTo('https://auth.example', 'https://auth.example/consent'), '__Host-session');
    assert.equal(sessionCookieSentTo('https://auth.example:8443', 'https://auth.example'), '__Host-session');
  });

  it('names none where they do not: another host, or another scheme', () => {
    assert.equal(sessionCookieSentTo('https://auth.example', 'https://login.example'), undefined);
    assert.equal(sessionCookieSentTo('https://auth.example', 'https://sub.auth.example'), undefined);
    assert.equal(sessionCookieSentTo('http://localhost:8080', 'https://localhost:8081'), undefined);
    assert.equal(sessionCookieSentTo('http://localhost:8080', 'http://127.0.0.1:8081'), undefined);
  });
});
