// Hand-written dependencies for this service's unit tests: an in-memory store with the same
// semantics as store.ts (store.test.ts checks those against the real database), a settable
// clock, an audit recorder and an in-memory key pair. Not used outside tests.
import { generateKeyPair, type CryptoKey } from 'jose';
import type { Audit } from '#shared/audit/publish-audit-event.ts';
import type { AuditData, AuditEventType } from '#shared/audit/cloud-event.ts';
import type { Clock } from '#shared/clock.ts';
import { DEFAULT_REFRESH_TOKEN_TTL_SECONDS, type ClientDoc } from '#shared/reference-data/clients.ts';
import type { AuthorizationCode, ClientAuthEvent, ClientAuthEventKind, CodeBinding, RefreshTokenFamily, Revocation, TokenStore } from './store.ts';
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
  emit(type: AuditEventType, subject: string, data: AuditData): void {
    this.events.push({ type, subject, data });
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
    signingKey: () => ({ kid: 'test-kid', privateKey }),
    verificationKey: async (header) => {
      if (header.kid !== 'test-kid') throw new Error('unknown kid');
      return publicKey;
    },
  };
}

type Store = Omit<TokenStore, 'publishedSigningKeys' | 'createSigningKey' | 'sweepExpired'>;

/** An in-memory TokenStore: each method is one synchronous step, as each claim is one atomic insert. */
export class MemoryStore implements Store {
  readonly codes = new Map<string, AuthorizationCode>();
  readonly families = new Map<string, RefreshTokenFamily>();
  readonly claims = new Set<string>();
  readonly revocations: Revocation[] = [];
  readonly authEvents: (ClientAuthEvent & { clientId: string })[] = [];

  #claim(id: string): boolean {
    if (this.claims.has(id)) return false;
    this.claims.add(id);
    return true;
  }
  async claimCode(codeHash: string, binding: CodeBinding, now: Date, familyFor?: (code: AuthorizationCode) => RefreshTokenFamily) {
    const code = this.codes.get(codeHash);
    if (!code || code.clientId !== binding.clientId || code.consumedAt !== null || code.expiresAt <= now) return null;
    if (code.codeChallenge !== binding.codeChallenge) return null;
    if (binding.redirectUri === undefined ? code.redirectUriSent : code.redirectUri !== binding.redirectUri) return null;
    code.consumedAt = now;
    // As in the real store: for a client with refresh tokens the family's insert is the claim.
    const claimed = familyFor ? await this.createFamily(familyFor({ ...code })) : this.#claim(`code:${codeHash}`);
    return claimed ? { ...code } : null;
  }
  async findCode(codeHash: string) {
    const code = this.codes.get(codeHash);
    return code ? { ...code } : null;
  }
  async claimCodeReplay(codeHash: string) {
    return this.#claim(`code_replay:${codeHash}`);
  }
  async createFamily(family: RefreshTokenFamily) {
    if (this.families.has(family.grantId)) return false;
    this.families.set(family.grantId, structuredClone(family));
    return true;
  }
  async findFamily(grantId: string, now: Date) {
    const f = this.families.get(grantId);
    return f && f.expiresAt > now ? structuredClone(f) : null;
  }
  async familyRevocationClaimed(grantId: string) {
    return this.claims.has(`revoked:${grantId}`);
  }
  async spendRefreshToken(tokenHash: string) {
    return this.#claim(`refresh:${tokenHash}`);
  }
  async refreshTokenSpent(tokenHash: string) {
    return this.claims.has(`refresh:${tokenHash}`);
  }
  async setCurrentRefreshToken(grantId: string, currentHash: string, nextHash: string, now: Date) {
    const f = this.families.get(grantId);
    if (f && f.currentHash === currentHash) Object.assign(f, { currentHash: nextHash, rotatedAt: now });
  }
  async revokeFamily(grantId: string, _expiresAt: Date, now: Date) {
    const reports = this.#claim(`revoked:${grantId}`);
    const f = this.families.get(grantId);
    if (f && f.revokedAt === null) f.revokedAt = now;
    return reports;
  }
  async revokeOrBlockFamily(family: RefreshTokenFamily, now: Date) {
    if (!this.families.has(family.grantId)) this.families.set(family.grantId, { ...structuredClone(family), currentHash: null, revokedAt: family.revokedAt ?? now });
    return this.revokeFamily(family.grantId, family.expiresAt, now);
  }
  async revokeFamiliesOf(sub: string, clientId: string, now: Date) {
    let n = 0;
    for (const f of this.families.values()) {
      if (f.sub === sub && f.clientId === clientId && f.revokedAt === null && f.expiresAt > now) {
        this.#claim(`revoked:${f.grantId}`);
        f.revokedAt = now;
        n++;
      }
    }
    return n;
  }
  async recordRevocation(revocation: Revocation) {
    this.revocations.push(revocation);
  }
  async recentClientAuthEvents(clientId: string, limit: number) {
    return this.authEvents.filter((e) => e.clientId === clientId).reverse().slice(0, limit).map(({ kind, createdAt }) => ({ kind, createdAt }));
  }
  async recordClientAuthEvent(clientId: string, kind: ClientAuthEventKind, now: Date) {
    this.authEvents.push({ clientId, kind, createdAt: now });
  }
}
