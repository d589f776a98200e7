// Sign-in with username and password. Unknown user and wrong password get the same answer and
// cost the same time (the password is checked against a decoy hash). Each attempt is counted
// against the account and the client address *before* the password is checked, so parallel
// guesses cannot outrun the lock; a locked account or address gets the same answer again, without
// its password being checked (CONTRACT "Sign-in abuse"). A success starts a new session with a
// fresh random id: an id known before sign-in is never promoted (session fixation, OWASP ASVS V3.2.1).
import type { Audit } from '#shared/audit/publish-audit-event.ts';
import type { AuditData } from '#shared/audit/cloud-event.ts';
import { addSeconds, type Clock } from '#shared/clock.ts';
import { randomToken, sha256 } from '#shared/crypto.ts';
import type { ConsentUiStore } from './store.ts';
import type { Session } from './session.ts';
import { maySignIn, type FindUser } from './user-access.ts';
import { accountKey, addressKey, allowance, clientAddress, lockSeconds, type LoginPolicy, type UnlockedKeys } from './login-throttle.ts';

export type Passwords = {
  verify(passwordHash: string, password: string): Promise<boolean>;
  /** A hash to check against when the user is unknown, so both answers cost the same. */
  decoyHash(): Promise<string>;
};

export type Deps = {
  store: Pick<ConsentUiStore,
    | 'findUserByUsername' | 'latestLoginLock' | 'recordLoginAttempt' | 'addLoginLock' | 'forgetLoginAttempt' | 'clearLoginFailures'
    | 'createSession' | 'deleteSession'>;
  clock: Clock;
  audit: Audit;
  passwords: Passwords;
  policy: LoginPolicy;
  sessionTtlSeconds: number;
  /** Keys just seen without a lock, whose locks are not read again for a moment. */
  unlocked?: UnlockedKeys;
  /** With it, a disabled user's sign-in fails like a wrong password (oauth-admin users disable). */
  findUser?: FindUser;
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

/** An attempt let through to the password check: its record, the count it saw and the locks so far. */
type Admitted = { id: string; count: number; locks: number };

export async function signIn(deps: Deps, input: SignInInput): Promise<SignInResult> {
  const now = deps.clock.now();
  const address = clientAddress(input.ip);
  const context: AuditData = { username: input.username, ip: address, ...(input.clientId ? { client_id: input.clientId } : {}) };
  const refuse = (reason: FailureReason): SignInResult => {
    deps.audit.emit('oauth.login.failed', input.username, { ...context, reason });
    return { ok: false };
  };
  const account: Gate = { key: accountKey(input.username), max: deps.policy.maxFailures, subject: input.username, data: { ...context, reason: 'account' } };
  const origin: Gate = { key: addressKey(address), max: deps.policy.addressMaxFailures, subject: address, data: { ip: address, reason: 'address' } };

  const fromAddress = await admit(deps, origin, now);
  if (!fromAddress) return refuse('address_locked');
  const forAccount = await admit(deps, account, now);
  if (!forAccount) return refuse('account_locked');

  const user = await deps.store.findUserByUsername(input.username);
  const passwordHash = user?.passwordHash ?? (await deps.passwords.decoyHash());
  const passwordMatches = await deps.passwords.verify(passwordHash, input.password);
  // Checked after the password, so a disabled account costs the same time and counts as a failure.
  const disabled = user !== null && passwordMatches && deps.findUser !== undefined && !maySignIn(await deps.findUser(user.sub));

  if (!user || !passwordMatches || disabled) {
    const result = refuse(!user ? 'unknown_user' : disabled ? 'user_disabled' : 'wrong_password');
    // The attempt that uses up the allowance sets the next lock.
    if (forAccount.count >= allowance(account.max, forAccount.locks)) await lock(deps, account, forAccount, now);
    if (fromAddress.count >= allowance(origin.max, fromAddress.locks)) await lock(deps, origin, fromAddress, now);
    return result;
  }

  // A success forgets the account's failures and locks. When this attempt was all the account had
  // on record (no failure, no lock: the usual sign-in), forgetting it is enough, by its key.
  await Promise.all([
    forAccount.count === 1 && forAccount.locks === 0 ? deps.store.forgetLoginAttempt(forAccount.id) : deps.store.clearLoginFailures(account.key),
    deps.store.forgetLoginAttempt(fromAddress.id),
  ]);
  if (input.previousSession) await deps.store.deleteSession(sha256(input.previousSession.id));
  const id = randomToken(32);
  const session: Session = { id, sub: user.sub, username: user.username, authTime: now, expiresAt: addSeconds(now, deps.sessionTtlSeconds) };
  await deps.store.createSession({ _id: sha256(id), sub: user.sub, username: user.username, authTime: now, createdAt: now, expiresAt: session.expiresAt });
  deps.audit.emit('oauth.login.succeeded', user.username, { ...context, username: user.username, sub: user.sub });
  return { ok: true, session };
}

/** What is throttled (an account or a client address), its allowance, and how its lock is reported. */
type Gate = { key: string; max: number; subject: string; data: AuditData };

/**
 * Lets an attempt through to the password check, or not (undefined): not while the key is locked
 * (the attempt is then not even recorded), nor when concurrent attempts used up the allowance
 * before the lock landed (that attempt sets the lock).
 */
async function admit(deps: Deps, gate: Gate, now: Date): Promise<Admitted | undefined> {
  const latest = deps.unlocked?.has(gate.key, now) ? null : await deps.store.latestLoginLock(gate.key, now);
  if (latest === null) deps.unlocked?.add(gate.key, now);
  if (latest && latest.until > now) return undefined;
  const locks = latest?.n ?? 0;
  const attempt = await deps.store.recordLoginAttempt(gate.key, now, addSeconds(now, deps.policy.memorySeconds));
  const admitted = { id: attempt.id, count: attempt.count, locks };
  if (attempt.count > allowance(gate.max, locks)) {
    await lock(deps, gate, admitted, now);
    return undefined;
  }
  return admitted;
}

async function lock(deps: Deps, gate: Gate, attempt: Admitted, now: Date): Promise<void> {
  deps.unlocked?.delete(gate.key);
  const until = addSeconds(now, lockSeconds(deps.policy, attempt.locks));
  // Lock n+1 has one _id: only the attempt whose insert wins reports it, so it is reported once.
  if (await deps.store.addLoginLock(gate.key, attempt.locks + 1, now, until, addSeconds(now, deps.policy.memorySeconds))) {
    deps.audit.emit('oauth.login.locked', gate.subject, { ...gate.data, count: attempt.count });
  }
}
