// Hand-written deps for the unit tests of this service's domain modules: a clock the test moves,
// an audit that records, and an in-memory store with the semantics of store.ts (expiry filters,
// unique lock ids, one failure counter per key).
import type { Audit } from '#shared/audit/publish-audit-event.ts';
import type { AuditData, AuditEventType, Once } from '#shared/audit/cloud-event.ts';
import type { Clock } from '#shared/clock.ts';
import type { ConsentUiStore, LoginFailuresDoc, LoginLockDoc, UserCredentials } from './store.ts';
import { consentId, type ConsentDoc, type SessionDoc } from '#shared/signed-in/records.ts';

export function testClock(start = new Date('2030-01-01T00:00:00Z')): Clock & { advance(seconds: number): void } {
  let now = start.getTime();
  return { now: () => new Date(now), advance: (seconds) => void (now += seconds * 1000) };
}

/** `once` only where the emit named one (the same event sent again keeps its id and time). */
export type RecordedEvent = { type: AuditEventType; subject: string; data: AuditData; once?: Once };

export function testAudit(): Audit & { events: RecordedEvent[]; ofType(type: AuditEventType): RecordedEvent[] } {
  const events: RecordedEvent[] = [];
  return {
    events,
    emit: async (type, subject, data, once) => { events.push({ type, subject, data, ...(once ? { once } : {}) }); },
    ofType: (type) => events.filter((e) => e.type === type),
  };
}

type StoreOps = Pick<ConsentUiStore,
  'findUserByUsername' | 'replacePasswordHash' | 'createSession' | 'findSession' | 'deleteSession' | 'findConsent' | 'findConsentUncached' | 'recordGrant' | 'listConsents' | 'deleteConsent'
  | 'latestLoginLock' | 'loginFailures' | 'addLoginFailure' | 'addLoginLock' | 'clearLoginFailures'>;

/** Lets pending promise callbacks run, so concurrent calls interleave as they would against a database. */
const tick = () => new Promise<void>((resolve) => setImmediate(resolve));

export function memoryStore(initialUsers: UserCredentials[] = []) {
  const users = initialUsers.map((user) => ({ ...user }));
  const sessions = new Map<string, SessionDoc>();
  const consents = new Map<string, ConsentDoc>();
  const failures = new Map<string, LoginFailuresDoc>();
  const locks = new Map<string, LoginLockDoc>();
  const store: StoreOps = {
    async findUserByUsername(username) {
      await tick();
      return users.find((u) => u.username === username) ?? null;
    },
    async replacePasswordHash(sub, checked, replacement) {
      const user = users.find((u) => u.sub === sub && u.passwordHash === checked);
      if (user) user.passwordHash = replacement;
    },
    async createSession(session) {
      sessions.set(session._id, session);
    },
    async findSession(idHash, now) {
      const doc = sessions.get(idHash);
      return doc && doc.expiresAt > now ? doc : null;
    },
    async deleteSession(idHash) {
      sessions.delete(idHash);
    },
    async findConsent(sub, clientId) {
      return consents.get(consentId(sub, clientId)) ?? null;
    },
    async findConsentUncached(sub, clientId) {
      return consents.get(consentId(sub, clientId)) ?? null;
    },
    async recordGrant(sub, clientId, scopes, remember, now) {
      const id = consentId(sub, clientId);
      const doc = consents.get(id) ?? { _id: id, sub, clientId, scopes: [], grantedScopes: [], createdAt: now, updatedAt: now };
      doc.grantedScopes = [...new Set([...doc.grantedScopes, ...scopes])];
      if (remember) doc.scopes = [...new Set([...doc.scopes, ...scopes])];
      doc.updatedAt = now;
      consents.set(id, doc);
    },
    async listConsents(sub) {
      return [...consents.values()].filter((c) => c.sub === sub).sort((a, b) => b.updatedAt.getTime() - a.updatedAt.getTime());
    },
    async deleteConsent(sub, clientId) {
      return consents.delete(consentId(sub, clientId));
    },
    async latestLoginLock(key, now) {
      await tick();
      const latest = [...locks.values()].filter((l) => l.key === key && l.expiresAt > now).sort((a, b) => b.n - a.n)[0];
      return latest ? { n: latest.n, until: latest.until } : null;
    },
    async loginFailures(key, now) {
      await tick();
      const doc = failures.get(key);
      return doc && doc.expiresAt > now ? doc.failures : 0;
    },
    async addLoginFailure(key, now, rememberUntil) {
      await tick();
      const doc = failures.get(key);
      const count = doc && doc.expiresAt > now ? doc.failures + 1 : 1;
      failures.set(key, { _id: key, key, failures: count, updatedAt: now, expiresAt: rememberUntil });
      return count;
    },
    async addLoginLock(key, n, now, until, rememberUntil) {
      await tick();
      const id = `${key}#${n}`;
      const existing = locks.get(id);
      if (existing && existing.expiresAt > now) return false;
      locks.set(id, { _id: id, key, n, until, createdAt: now, expiresAt: until > rememberUntil ? until : rememberUntil });
      return true;
    },
    async clearLoginFailures(key) {
      failures.delete(key);
      for (const [id, l] of locks) if (l.key === key) locks.delete(id);
    },
  };
  return { store, users, sessions, consents, failures, locks };
}
