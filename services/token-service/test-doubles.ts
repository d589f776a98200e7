// Hand-written dependencies for this service's unit tests: an in-memory store with the same
// semantics as store.ts (store.test.ts checks those against the real database), sealers under a
// fresh key, a RevocationSet fed the way main.ts feeds it, a settable clock, an audit recorder
// and an in-memory key pair. Not used outside tests.
import assert from 'node:assert/strict';
import { KeyObject, randomBytes } from 'node:crypto';
import { generateKeyPair, type CryptoKey } from 'jose';
import { generateSigningKey } from '#shared/keys/rotate-signing-key.ts';
import type { SigningKeyDoc } from '#shared/keys/signing-keys.ts';
import type { Audit } from '#shared/audit/publish-audit-event.ts';
import type { AuditData, AuditEventType } from '#shared/audit/cloud-event.ts';
import { authorizationCodeSealer, type AuthorizationCodes } from '#shared/grants/authorization-codes.ts';
import { addSeconds, type Clock } from '#shared/clock.ts';
import { createLogger } from '#shared/logger.ts';
import { OAuthError } from '#shared/oauth-error.ts';
import { DEFAULT_REFRESH_TOKEN_TTL_SECONDS, type ClientDoc } from '#shared/reference-data/clients.ts';
import { refreshGraceClaimId, refreshTokenClaimId, refreshTokenSealer, type RefreshTokenPayload, type RefreshTokens } from '#shared/grants/refresh-tokens.ts';
import { RevocationSet } from '#shared/grants/revocation-set.ts';
import { toRevocationRecord } from '#shared/grants/revocation-feed.ts';
import type { RecordRevocation } from './revoke-grant.ts';
import type { ClientAuthEvent, ClientAuthEventKind, RefreshTokenFamily, Revocation, SigningKeyStore, SigningKeySuccessorClaim, TokenStore } from './store.ts';
import type { SigningKeySource, VerificationKeySource } from './signing-keys.ts';

export class TestClock implements Clock {
  current: Date;
  constructor(start = new Date('2030-01-01T00:00:00Z')) {
    this.current = start;
  }
  now = () => new Date(this.current);
  advance(seconds: number): void {
    this.current = new Date(this.current.getTime() + seconds * 1000);
  }
}

export class AuditRecorder implements Audit {
  readonly events: { type: AuditEventType; subject: string; data: AuditData }[] = [];
  #held: Promise<void> | undefined;
  async emit(type: AuditEventType, subject: string, data: AuditData): Promise<void> {
    this.events.push({ type, subject, data });
    await this.#held;
  }
  /** Until the returned release is called, emits do not settle (JetStream slow to ack, the outbox not written yet). */
  hold(): () => void {
    let release!: () => void;
    this.#held = new Promise((resolve) => (release = resolve));
    return () => {
      this.#held = undefined;
      release();
    };
  }
  ofType(type: AuditEventType) {
    return this.events.filter((e) => e.type === type);
  }
}

export function testClient(overrides: Partial<ClientDoc> = {}): ClientDoc {
  const now = new Date('2030-01-01T00:00:00Z');
  return {
    _id: 'c_test',
    name: 'Test',
    type: 'confidential',
    secretHash: undefined,
    redirectUris: ['https://client.example.com/cb'],
    scopes: ['read', 'write'],
    grantTypes: ['authorization_code', 'refresh_token'],
    accessTokenTtlSeconds: 600,
    refreshTokenTtlSeconds: DEFAULT_REFRESH_TOKEN_TTL_SECONDS,
    createdAt: now,
    updatedAt: now,
    ...overrides,
  };
}

export async function testKeys(): Promise<SigningKeySource & VerificationKeySource & { publicKey: CryptoKey }> {
  const { privateKey, publicKey } = await generateKeyPair('ES256');
  return {
    publicKey,
    signingKey: () => ({ kid: 'test-kid', privateKey: KeyObject.from(privateKey) }),
    verificationKey: async (header) => {
      if (header.kid !== 'test-kid') throw new Error('unknown kid');
      return publicKey;
    },
  };
}

/** Code and refresh token sealers under one fresh key, as authorize-service and token-service share the KEK. */
export function testSealers(kek: Buffer = randomBytes(32)): { codes: AuthorizationCodes; refreshTokens: RefreshTokens } {
  return { codes: authorizationCodeSealer(kek), refreshTokens: refreshTokenSealer(kek) };
}

/** A RevocationSet that is never started: tests feed it through `recordRevocationInto`. */
export function testRevocations(clock: Clock): RevocationSet {
  return new RevocationSet({
    clock, log: createLogger('test', 'silent'), resyncMs: 60_000,
    subscribe: () => ({ unsubscribe: () => undefined }),
    loadActive: async () => [],
    loadChangedSince: async () => [],
  });
}

/** As main.ts records a revocation: stored, then applied to this instance's set as the broadcast carries it. */
export function recordRevocationInto(store: MemoryStore, revocations: RevocationSet, clock: Clock): RecordRevocation {
  return async (revocation) => {
    // As record-revocation.ts: applied here even when storing fails, and the failure passed on.
    const stored = store.recordRevocation(revocation, clock.now());
    revocations.record(toRevocationRecord(revocation));
    await stored;
  };
}

/** The family a code exchange at `now` stores for this token's grant. */
export function familyOf(token: Omit<RefreshTokenPayload, 'generation' | 'grantStartedAtMs'>, now: Date, expiresAt: Date): RefreshTokenFamily {
  return {
    grantId: token.grantId, clientId: token.clientId, sub: token.sub, username: token.username, scopes: token.scopes, authTime: new Date(token.authTime * 1000),
    accessTokenTtlSeconds: 600, createdAt: now, expiresAt, revokedAt: null,
  };
}

type Store = Omit<TokenStore, keyof SigningKeyStore | 'sweepExpired'>;

const CODE_CLAIM_MARGIN_SECONDS = 86_400;

/** An in-memory TokenStore: each method is one synchronous step, as each claim is one atomic insert. */
export class MemoryStore implements Store {
  readonly families = new Map<string, RefreshTokenFamily>();
  /** grant_claims: `_id` → expiresAt. */
  readonly claims = new Map<string, Date>();
  /** When each refresh token was spent (its claim's createdAt). */
  readonly spentAt = new Map<string, Date>();
  /** `revoked:` claims whose grant revocation was stored. */
  readonly recordedClaims = new Set<string>();
  readonly revocations: Revocation[] = [];
  readonly authEvents: (ClientAuthEvent & { clientId: string })[] = [];

  #claim(id: string, expiresAt: Date): boolean {
    if (this.claims.has(id)) return false;
    this.claims.set(id, expiresAt);
    return true;
  }
  #insertFamily(family: RefreshTokenFamily): boolean {
    if (this.families.has(family.grantId)) return false;
    this.families.set(family.grantId, structuredClone(family));
    return true;
  }
  async claimCode(grantId: string, codeExpiresAt: Date, _now: Date) {
    return this.#claim(`code:${grantId}`, addSeconds(codeExpiresAt, CODE_CLAIM_MARGIN_SECONDS));
  }
  async codeConsumed(grantId: string) {
    return this.claims.has(`code:${grantId}`) || this.families.has(grantId);
  }
  async claimCodeReplay(grantId: string, codeExpiresAt: Date, now: Date) {
    return this.#claim(`code_replay:${grantId}`, addSeconds(codeExpiresAt > now ? codeExpiresAt : now, CODE_CLAIM_MARGIN_SECONDS));
  }
  async createFamily(family: RefreshTokenFamily) {
    return this.#insertFamily(family);
  }
  async spendRefreshToken(token: Pick<RefreshTokenPayload, 'grantId' | 'generation'>, familyExpiresAt: Date, now: Date) {
    const spent = this.#claim(refreshTokenClaimId(token), familyExpiresAt);
    if (spent) this.spentAt.set(refreshTokenClaimId(token), now);
    return spent;
  }
  async refreshTokenSpentAt(token: Pick<RefreshTokenPayload, 'grantId' | 'generation'>) {
    return this.spentAt.get(refreshTokenClaimId(token)) ?? null;
  }
  async claimRefreshGrace(token: Pick<RefreshTokenPayload, 'grantId' | 'generation'>, familyExpiresAt: Date, _now: Date) {
    return this.#claim(refreshGraceClaimId(token), familyExpiresAt);
  }
  async refreshGraceUsed(token: Pick<RefreshTokenPayload, 'grantId' | 'generation'>) {
    return this.claims.has(refreshGraceClaimId(token));
  }
  async refreshTokenSpent(token: Pick<RefreshTokenPayload, 'grantId' | 'generation'>) {
    return this.claims.has(refreshTokenClaimId(token));
  }
  async revokeFamily(grantId: string, familyExpiresAt: Date, now: Date) {
    const reports = this.#claim(`revoked:${grantId}`, familyExpiresAt);
    const f = this.families.get(grantId);
    if (f && f.revokedAt === null) f.revokedAt = now;
    return reports;
  }
  async claimFamilyRevocation(grantId: string, familyExpiresAt: Date, _now: Date) {
    return this.#claim(`revoked:${grantId}`, familyExpiresAt);
  }
  async markFamilyRevoked(grantId: string, now: Date) {
    const f = this.families.get(grantId);
    if (f && f.revokedAt === null) f.revokedAt = now;
  }
  async decidedRevocations(now: Date, _decidedBefore: Date) {
    return [...this.claims.entries()].filter(([id, expiresAt]) => id.startsWith('revoked:') && expiresAt > now && !this.recordedClaims.has(id))
      .map(([id, familyExpiresAt]) => ({ grantId: id.slice('revoked:'.length), familyExpiresAt }));
  }
  /** Nothing here was decided by an earlier release. */
  async decidedRevocationsFromClaims(_now: Date, _decidedBefore: Date) {
    return [];
  }
  async revocationRecorded(grantId: string, _now: Date) {
    this.recordedClaims.add(`revoked:${grantId}`);
  }
  async revokeOrBlockFamily(family: RefreshTokenFamily, now: Date) {
    this.#insertFamily({ ...family, revokedAt: family.revokedAt ?? now });
    return this.revokeFamily(family.grantId, family.expiresAt, now);
  }
  async revokeFamiliesOf(sub: string, clientId: string, now: Date) {
    const revoked: { grantId: string; expiresAt: Date }[] = [];
    for (const f of this.families.values()) {
      if (f.sub === sub && f.clientId === clientId && f.revokedAt === null && f.expiresAt > now) {
        this.#claim(`revoked:${f.grantId}`, f.expiresAt);
        f.revokedAt = now;
        revoked.push({ grantId: f.grantId, expiresAt: f.expiresAt });
      }
    }
    return revoked;
  }
  async familyExpiresAt(grantId: string) {
    const family = this.families.get(grantId);
    return family && !family.claimOnly ? family.expiresAt : null;
  }
  async storedGrantRevocations(grantIds: string[]) {
    return new Set(grantIds.filter((g) => this.revocations.some((r) => r.kind === 'grant' && r.key === g)));
  }
  async recordRevocation(revocation: Revocation, _now?: Date) {
    this.revocations.push(revocation);
    if (revocation.kind === 'grant') this.recordedClaims.add(`revoked:${revocation.key}`);
  }
  async recentClientAuthEvents(clientId: string, limit: number) {
    return this.authEvents.filter((e) => e.clientId === clientId).reverse().slice(0, limit).map(({ kind, createdAt }) => ({ kind, createdAt }));
  }
  async recordClientAuthEvent(clientId: string, kind: ClientAuthEventKind, now: Date) {
    this.authEvents.push({ clientId, kind, createdAt: now });
  }
}

/** The OAuthError a domain call was refused with (fails the test when it resolves or throws anything else). */
export async function refusal(promise: Promise<unknown>): Promise<OAuthError> {
  const error = await promise.then(() => undefined, (e: unknown) => e);
  assert.ok(error instanceof OAuthError, `expected an OAuthError, got ${String(error)}`);
  return error;
}

/** What every token-service domain test starts from: an empty store, a fixed clock, an audit recorder, a revocation set and the sealers. */
export function testWorld() {
  const clock = new TestClock();
  return { store: new MemoryStore(), clock, audit: new AuditRecorder(), revocations: testRevocations(clock), ...testSealers() };
}

/**
 * signing_keys and signing_key_claims in memory, with store.ts's semantics (store.test.ts checks
 * those against the real database): claims and keys are unique inserts, supersession only marks
 * keys nobody has marked.
 */
export class MemorySigningKeyStore implements SigningKeyStore {
  readonly keys: SigningKeyDoc[] = [];
  readonly claims = new Map<string, SigningKeySuccessorClaim>();
  async publishedSigningKeys(now: Date) {
    const published = this.keys.filter((k) => k.retireAt === null || k.retireAt > now);
    return published.sort((a, b) => b.createdAt.getTime() - a.createdAt.getTime()).map((k) => structuredClone(k));
  }
  async createSigningKey(kek: Buffer, now: Date) {
    const key = await generateSigningKey(kek, now);
    this.keys.push(key);
    return key;
  }
  async claimSigningKeySuccessor(claim: SigningKeySuccessorClaim) {
    if (this.claims.has(claim.predecessorKid)) return false;
    this.claims.set(claim.predecessorKid, structuredClone(claim));
    return true;
  }
  async signingKeySuccessorClaim(predecessorKid: string, now: Date) {
    const claim = this.claims.get(predecessorKid);
    return claim && claim.expiresAt > now ? structuredClone(claim) : null;
  }
  async insertSuccessorSigningKey(key: SigningKeyDoc) {
    if (this.keys.some((k) => k._id === key._id)) return false;
    this.keys.push(structuredClone(key));
    return true;
  }
  async supersedeSigningKeys(updates: { kid: string; supersededAt: Date; retireAt: Date }[]) {
    for (const u of updates) {
      const key = this.keys.find((k) => k._id === u.kid && k.supersededAt === null);
      if (key) Object.assign(key, { supersededAt: u.supersededAt, retireAt: u.retireAt });
    }
  }
  async sweepExpiredSigningKeyClaims(now: Date) {
    let removed = 0;
    for (const [kid, claim] of this.claims) if (claim.expiresAt <= now && this.claims.delete(kid)) removed++;
    return removed;
  }
}
