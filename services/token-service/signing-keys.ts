// The signing keys this instance holds in memory: every published key verifies and appears in JWKS,
// and the signer is picked on every signature from the keys held, by activation time
// (#shared/keys/signing-key-states.ts): a scheduled `next` key is held (decrypted) ahead and takes
// over at its activation instant on every instance, without waiting for a reload. A private key is
// decrypted and imported once per kid, never per request. Reloaded on the `keys` announcement and on
// a timer (main.ts, keepKeysCurrent), so a rotation written by `oauth-admin keys rotate`, by the
// schedule on another instance, or another instance's first key takes effect everywhere.
import { createPrivateKey, type JsonWebKey, type KeyObject } from 'node:crypto';
import { importJWK, type CryptoKey, type JWK, type JWTVerifyGetKey } from 'jose';
import type { Clock } from '#shared/clock.ts';
import type { Logger } from '#shared/logger.ts';
import { ConfigError } from '#shared/config.ts';
import { decrypt } from '#shared/keys/key-encryption.ts';
import { SIGNING_ALG, type SigningKeyDoc } from '#shared/keys/signing-keys.ts';
import { activatesAt, signerAt } from '#shared/keys/signing-key-states.ts';
import type { TokenStore } from './store.ts';

/** The private key as node:crypto holds it: issue-access-token.ts signs with node:crypto. */
export type SigningKey = { kid: string; privateKey: KeyObject };

/** What issuing and verifying access tokens need from the key ring. */
export type SigningKeySource = { signingKey(): SigningKey };
export type VerificationKeySource = { verificationKey: JWTVerifyGetKey };

export type KeyRingDeps = {
  store: Pick<TokenStore, 'publishedSigningKeys' | 'createSigningKey'>;
  kek: Buffer;
  clock: Clock;
  log: Logger;
};

type PublishedKey = { kid: string; publicJwk: JWK; retireAt: Date | null };
/** A key this instance can sign with, now or from its activation on. */
type Candidate = SigningKey & { _id: string; createdAt: Date; activatesAt: Date; supersededAt: Date | null; retireAt: Date | null };

export class KeyRing implements SigningKeySource, VerificationKeySource {
  readonly #deps: KeyRingDeps;
  #candidates: Candidate[] = [];
  /** The last key that signed: kept when no held key may sign (a clock step back, a failed reload). */
  #lastSigner: SigningKey | undefined;
  #published: PublishedKey[] = [];
  /** Kids of the published keys not yet superseded (at the last load). */
  #currentKids: string[] = [];
  readonly #privateKeys = new Map<string, KeyObject>();
  readonly #publicKeys = new Map<string, Promise<CryptoKey>>();
  #loading: Promise<void> | undefined;

  constructor(deps: KeyRingDeps) {
    this.#deps = deps;
  }

  /**
   * Loads the keys; when none is published at all (a first start), generates one (a concurrent
   * instance may do the same: both keys are valid and the newest signs). Returns true when this
   * call created a key. Published keys of which none can sign mean the wrong key-encryption key (or
   * the public development key on a shared database): a ConfigError, never a fresh key announced
   * beside them, which would sign under a key the rest of the deployment does not hold.
   */
  async start(): Promise<boolean> {
    await this.reload(true);
    if (this.#signerNow()) return false;
    if (this.#published.length > 0) {
      const kids = this.#currentKids.join(', ');
      const current = kids
        ? `OAUTH_KEY_ENCRYPTION_KEY cannot decrypt the current signing key (${kids}); start with the key-encryption key it was made with`
        : 'every published signing key is superseded; make a current one with oauth-admin keys rotate';
      throw new ConfigError(`configuration error: ${current} (token-service creates a signing key only when none is published)`);
    }
    const key = await this.#deps.store.createSigningKey(this.#deps.kek, this.#deps.clock.now());
    this.#deps.log.info({ kid: key._id }, 'generated the first signing key');
    await this.reload(true);
    if (!this.#signerNow()) throw new Error('no usable signing key after generating one');
    return true;
  }

  /** Reloads from the database; on failure keeps what it has (and throws only when asked to). */
  async reload(throwOnError = false): Promise<void> {
    // Coalesce concurrent reloads (timer and announcements).
    this.#loading ??= this.#load().finally(() => {
      this.#loading = undefined;
    });
    try {
      await this.#loading;
    } catch (error) {
      if (throwOnError) throw error;
      this.#deps.log.warn({ err: error }, 'signing key reload failed; keeping the keys held');
    }
  }

  async #load(): Promise<void> {
    const now = this.#deps.clock.now();
    const docs = await this.#deps.store.publishedSigningKeys(now);
    // Every key that signs now or will (a scheduled `next` key) and that this instance can decrypt.
    const candidates: Candidate[] = [];
    for (const doc of docs) {
      if (doc.alg !== SIGNING_ALG || (doc.supersededAt !== null && doc.supersededAt <= now)) continue;
      try {
        candidates.push({
          kid: doc._id, privateKey: this.#privateKey(doc),
          _id: doc._id, createdAt: doc.createdAt, activatesAt: activatesAt(doc), supersededAt: doc.supersededAt, retireAt: doc.retireAt,
        });
      } catch (error) {
        this.#deps.log.error({ err: error, kid: doc._id }, 'cannot decrypt a signing key (is OAUTH_KEY_ENCRYPTION_KEY the one it was made with?); skipping it');
      }
    }
    // Keys the last load held stay until a load finds others: a failed decryption never leaves the ring without a signer.
    if (candidates.length > 0) this.#candidates = candidates;
    this.#published = docs.map((doc) => ({ kid: doc._id, publicJwk: doc.publicJwk, retireAt: doc.retireAt }));
    this.#currentKids = docs.filter((doc) => doc.supersededAt === null || doc.supersededAt > now).map((doc) => doc._id);
    const live = new Set(docs.map((d) => d._id));
    const held = new Set(this.#candidates.map((c) => c.kid));
    for (const kid of this.#privateKeys.keys()) if (!live.has(kid) && !held.has(kid) && kid !== this.#lastSigner?.kid) this.#privateKeys.delete(kid);
    for (const kid of this.#publicKeys.keys()) if (!live.has(kid)) this.#publicKeys.delete(kid);
  }

  /** The held key that signs now: of those activated and not superseded, the one activated last. */
  #signerNow(): SigningKey | undefined {
    const signer = signerAt(this.#candidates, this.#deps.clock.now());
    if (!signer) return undefined;
    if (signer.kid !== this.#lastSigner?.kid) {
      this.#deps.log.info({ kid: signer.kid }, 'signing with key');
      this.#lastSigner = { kid: signer.kid, privateKey: signer.privateKey };
    }
    return this.#lastSigner;
  }

  #privateKey(doc: SigningKeyDoc): KeyObject {
    const cached = this.#privateKeys.get(doc._id);
    if (cached) return cached;
    const jwk = JSON.parse(decrypt(this.#deps.kek, doc.privateJwkEncrypted, doc._id)) as JsonWebKey;
    const key = createPrivateKey({ key: jwk, format: 'jwk' });
    if (key.asymmetricKeyType !== 'ec' || key.asymmetricKeyDetails?.namedCurve !== 'prime256v1') throw new Error(`signing key ${doc._id} is not a P-256 key`);
    this.#privateKeys.set(doc._id, key);
    return key;
  }

  signingKey(): SigningKey {
    const signer = this.#signerNow() ?? this.#lastSigner;
    if (!signer) throw new Error('the key ring has no signing key (start() was not awaited)');
    return signer;
  }

  /** The kids this ring would sign with, now and from their activation on (tests, diagnostics). */
  heldSigningKids(): string[] {
    return this.#candidates.map((c) => c.kid);
  }

  /** Public JWKs of every key not yet retired (RFC 7517 JWK Set). */
  jwks(): { keys: JWK[] } {
    const now = this.#deps.clock.now();
    return { keys: this.#published.filter((k) => k.retireAt === null || k.retireAt > now).map((k) => k.publicJwk) };
  }

  /** A jose key resolver over the published keys: an unknown or retired kid verifies nothing. */
  readonly verificationKey: JWTVerifyGetKey = async (header) => {
    const now = this.#deps.clock.now();
    const key = this.#published.find((k) => k.kid === header.kid && (k.retireAt === null || k.retireAt > now));
    if (!key || header.alg !== SIGNING_ALG) throw new Error('unknown signing key');
    let imported = this.#publicKeys.get(key.kid);
    if (!imported) {
      imported = importJWK(key.publicJwk, SIGNING_ALG) as Promise<CryptoKey>;
      this.#publicKeys.set(key.kid, imported);
    }
    return imported;
  };
}
