// Sign-in with username and password. Unknown user and wrong password get the same answer and
// cost the same time (the password is checked against a decoy hash). Only failures count toward a
// lock, one counter per account and per client address; a key gets no more password checks at once
// than it has failures left, so parallel guesses cannot outrun the lock, and further attempts wait
// for one to end (login-throttle.ts, AttemptGates). A locked account or address gets the same answer
// again, without its password being checked (CONTRACT "Sign-in abuse"). A success starts a new
// session with a fresh random id: an id known before sign-in is never promoted (session fixation,
// OWASP ASVS V3.2.1). A refusal is answered at a whole multiple of a set time after the attempt
// began, so its timing tells nothing of why: an unknown name, a hash stored under earlier settings
// (dearer or cheaper than the decoy), a lock. A multiple, not a minimum, so that a check slowed past
// the floor by load is not answered at its own time either.
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from '#shared/logger.ts';
import type { Audit } from '#shared/audit/publish-audit-event.ts';
import type { AuditData } from '#shared/audit/cloud-event.ts';
import { addSeconds, type Clock } from '#shared/clock.ts';
import { randomToken, sha256 } from '#shared/crypto.ts';
import type { ConsentUiStore, UserCredentials } from './store.ts';
import type { Session } from '#shared/signed-in/session.ts';
import { maySignIn, type FindUser } from '#shared/signed-in/user-access.ts';
import {
  accountKey, addressKey, ADMISSION_WAIT_MS, allowance, clientAddress, lockSeconds, type AttemptGates, type LoginPolicy, type UnlockedKeys,
} from './login-throttle.ts';

export type Passwords = {
  verify(passwordHash: string, password: string): Promise<boolean>;
  /** A hash to check against when the user is unknown, so both answers cost the same. */
  decoyHash(): Promise<string>;
  /** Whether a stored hash is weaker than today's settings: a sign-in with the right password replaces it. */
  needsRehash(passwordHash: string): boolean;
  hash(password: string): Promise<string>;
};

export type Deps = {
  store: Pick<ConsentUiStore,
    | 'findUserByUsername' | 'latestLoginLock' | 'loginFailures' | 'addLoginFailure' | 'addLoginLock' | 'clearLoginFailures'
    | 'createSession' | 'deleteSession' | 'replacePasswordHash'>;
  clock: Clock;
  audit: Audit;
  passwords: Passwords;
  policy: LoginPolicy;
  sessionTtlSeconds: number;
  /** Sign-ins in progress in this process, per key (one per process). */
  gates: AttemptGates;
  /** Keys just seen without a lock, whose locks are not read again for a moment. */
  unlocked?: UnlockedKeys;
  /** With it, a disabled user's sign-in fails like a wrong password (oauth-admin users disable). */
  findUser?: FindUser;
  /** A refusal is answered this many ms after the attempt began, or a whole multiple of it. */
  refusalFloorMs: number;
  log: Pick<Logger, 'warn'>;
};

export type SignInInput = {
  username: string;
  password: string;
  /** The client's IP address as the HTTP server sees it (after trusted proxies). */
  ip: string;
  /** The client of the pending authorization request, when there is one (for the audit trail). */
  clientId?: string;
  /** A session the browser already had: it ends, the new one never reuses its id. */
  previousSession?: Session;
};

export type SignInResult = { ok: true; session: Session } | { ok: false };

type FailureReason = 'unknown_user' | 'wrong_password' | 'user_disabled' | 'account_locked' | 'address_locked';

/** An attempt let through to the password check: the key's failures and locks when it was let in. */
type Admitted = { failures: number; locks: number };

export async function signIn(deps: Deps, input: SignInInput): Promise<SignInResult> {
  const began = performance.now();
  // The attempt's events are awaited once it has left its gates: an attempt waiting for a gate's
  // slot never waits for another attempt's events to be acked as well.
  const emitted: Promise<void>[] = [];
  try {
    const result = await attemptSignIn({ ...deps, audit: emitNowSettleLater(deps.audit, emitted) }, input);
    // Held outside the gates: the next attempt of the key need not wait for this answer.
    if (!result.ok) await sleep(untilNextStep(performance.now() - began, deps.refusalFloorMs));
    return result;
  } finally {
    await Promise.all(emitted);
  }
}

/** Ms from `elapsed` to the next whole multiple of `step`, at least one step after the start. */
function untilNextStep(elapsed: number, step: number): number {
  return step > 0 ? Math.max(1, Math.ceil(elapsed / step)) * step - elapsed : 0;
}

/** An audit whose emits settle at once; the events' own settling is collected in `emitted`. */
function emitNowSettleLater(audit: Audit, emitted: Promise<void>[]): Audit {
  return {
    emit: (...event) => {
      emitted.push(audit.emit(...event));
      return Promise.resolve();
    },
  };
}

async function attemptSignIn(deps: Deps, input: SignInInput): Promise<SignInResult> {
  const now = deps.clock.now();
  const address = clientAddress(input.ip);
  const context: AuditData = { username: input.username, ip: address, ...(input.clientId ? { client_id: input.clientId } : {}) };
  const refuse = async (reason: FailureReason): Promise<SignInResult> => {
    await deps.audit.emit('oauth.login.failed', input.username, { ...context, reason });
    return { ok: false };
  };
  const account: Gate = { key: accountKey(input.username), max: deps.policy.maxFailures, subject: input.username, data: { ...context, reason: 'account' } };
  const origin: Gate = { key: addressKey(address), max: deps.policy.addressMaxFailures, subject: address, data: { ip: address, reason: 'address' } };

  const fromAddress = await admit(deps, origin);
  if (!fromAddress) return refuse('address_locked');
  try {
    const forAccount = await admit(deps, account);
    if (!forAccount) return refuse('account_locked');
    try {
      const user = await deps.store.findUserByUsername(input.username);
      const passwordHash = user?.passwordHash ?? (await deps.passwords.decoyHash());
      const passwordMatches = await deps.passwords.verify(passwordHash, input.password);
      // Checked after the password, so a disabled account costs the same time and counts as a failure.
      const disabled = user !== null && passwordMatches && deps.findUser !== undefined && !maySignIn(await deps.findUser(user.sub));
      if (!user || !passwordMatches || disabled) {
        const refused = refuse(!user ? 'unknown_user' : disabled ? 'user_disabled' : 'wrong_password');
        // Counted (and the lock set) before this check makes room for the next attempt.
        await Promise.all([countFailure(deps, account, forAccount, now), countFailure(deps, origin, fromAddress, now)]);
        return await refused;
      }
      // A success forgets the account's failures and locks (an address keeps its failures: successes never counted).
      if (forAccount.failures > 0 || forAccount.locks > 0) await clearAccount(deps, account.key);
      if (deps.passwords.needsRehash(user.passwordHash)) await upgradeHash(deps, user, input.password);
      return { ok: true, session: await startSession(deps, user, input, context, now) };
    } finally {
      deps.gates.leave(account.key);
    }
  } finally {
    deps.gates.leave(origin.key);
  }
}

/**
 * Brings a hash stored under earlier settings up to today's while the password is at hand (each
 * check then costs what the decoy's does). Housekeeping: should it fail, the sign-in still succeeds.
 */
async function upgradeHash(deps: Deps, user: UserCredentials, password: string): Promise<void> {
  try {
    await deps.store.replacePasswordHash(user.sub, user.passwordHash, await deps.passwords.hash(password));
  } catch (error) {
    // Its name and code only: a database error may quote the filter, which holds the hash. (Not under
    // a key named `code`: the logger censors that, for authorization codes.)
    const { name, code } = error as { name?: string; code?: unknown };
    deps.log.warn({ sub: user.sub, error: { name, errorCode: code } }, 'could not replace a password hash stored under earlier settings; it still verifies');
  }
}

async function startSession(deps: Deps, user: UserCredentials, input: SignInInput, context: AuditData, now: Date): Promise<Session> {
  if (input.previousSession) await deps.store.deleteSession(sha256(input.previousSession.id));
  const id = randomToken(32);
  const session: Session = { id, sub: user.sub, username: user.username, authTime: now, expiresAt: addSeconds(now, deps.sessionTtlSeconds) };
  await deps.store.createSession({ _id: sha256(id), sub: user.sub, username: user.username, authTime: now, createdAt: now, expiresAt: session.expiresAt });
  await deps.audit.emit('oauth.login.succeeded', user.username, { ...context, username: user.username, sub: user.sub });
  return session;
}

/** What is throttled (an account or a client address), its allowance, and how its lock is reported. */
type Gate = { key: string; max: number; subject: string; data: AuditData };

/**
 * Lets an attempt through to the password check, or not (undefined): not while the key is locked
 * (the attempt is then not even counted), nor when failures counted elsewhere used up the allowance
 * before the lock landed (this attempt sets it). While the password checks in progress could use up
 * what is left, it waits for one to end, at most ADMISSION_WAIT_MS (then it is refused, slowed).
 */
async function admit(deps: Deps, gate: Gate): Promise<Admitted | undefined> {
  const waitUntil = Date.now() + ADMISSION_WAIT_MS;
  for (;;) {
    const now = deps.clock.now();
    if (deps.gates.lockedUntil(gate.key, now)) return undefined;
    const latest = deps.unlocked?.has(gate.key, now) ? null : await deps.store.latestLoginLock(gate.key, now);
    if (latest === null) deps.unlocked?.add(gate.key, now);
    if (latest && latest.until > now) {
      deps.gates.rememberLock(gate.key, latest.until);
      return undefined;
    }
    const locks = latest?.n ?? 0;
    const verdict = await deps.gates.exclusive(gate.key, async (state) => {
      state.failures ??= await deps.store.loginFailures(gate.key, now);
      const left = allowance(gate.max, locks) - state.failures;
      if (left <= 0) return { over: state.failures };
      if (state.inFlight >= left) return 'wait';
      state.inFlight++;
      return { admitted: { failures: state.failures, locks } };
    });
    if (verdict === 'wait') {
      if (!(await deps.gates.wait(gate.key, waitUntil - Date.now()))) return undefined;
    } else if ('admitted' in verdict) {
      return verdict.admitted;
    } else {
      await lock(deps, gate, verdict.over, locks, now);
      return undefined;
    }
  }
}

/** Counts a failure; the one that uses up the allowance sets the next lock. */
async function countFailure(deps: Deps, gate: Gate, attempt: Admitted, now: Date): Promise<void> {
  const count = await deps.gates.exclusive(gate.key, async (state) => {
    state.failures = await deps.store.addLoginFailure(gate.key, now, addSeconds(now, deps.policy.memorySeconds));
    return state.failures;
  });
  if (count >= allowance(gate.max, attempt.locks)) await lock(deps, gate, count, attempt.locks, now);
}

async function clearAccount(deps: Deps, key: string): Promise<void> {
  await deps.gates.exclusive(key, async (state) => {
    await deps.store.clearLoginFailures(key);
    state.failures = 0;
  });
  deps.gates.forgetLock(key);
}

async function lock(deps: Deps, gate: Gate, count: number, locks: number, now: Date): Promise<void> {
  deps.unlocked?.delete(gate.key);
  const until = addSeconds(now, lockSeconds(deps.policy, locks));
  deps.gates.rememberLock(gate.key, until);
  // Lock n+1 has one _id: only the attempt whose insert wins reports it, so it is reported once.
  if (await deps.store.addLoginLock(gate.key, locks + 1, now, until, addSeconds(now, deps.policy.memorySeconds))) {
    await deps.audit.emit('oauth.login.locked', gate.subject, { ...gate.data, count });
  }
}
