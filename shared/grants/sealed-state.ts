// Server-issued values that carry their own state: authorization requests, authorization codes
// and refresh tokens are sealed (AES-256-GCM, authenticated) rather than stored and looked up.
// Reading a document by key costs a round trip, and on FerretDB 1.x as released a full scan
// (scripts/local-infra.ts), so the hot path reads nothing: it opens the value it was given, and the
// only database work left is the unique insert that makes a code or a refresh token single-use.
// Nothing secret is stored at all.
//
// The key for each kind is derived (HKDF-SHA256) from OAUTH_KEY_ENCRYPTION_KEY with the kind as
// label, and the kind is also the AEAD's associated data: a value sealed as one kind never opens
// as another (a refresh token presented as a code is simply unknown).
import { createCipheriv, createDecipheriv, createSecretKey, hkdfSync } from 'node:crypto';
import { randomBytesPooled } from '#shared/crypto.ts';

export type SealedKind = 'authorization-request' | 'authorization-code' | 'authorization-code-claimed-by-family' | 'refresh-token' | 'pushed-authorization-request';

const VERSION = 1;
const IV_BYTES = 12;
const TAG_BYTES = 16;
/** Longest sealed value accepted for opening (before any decoding); sealed requests are the biggest. */
export const MAX_SEALED_LENGTH = 12_288;
const SEALED = /^[A-Za-z0-9_-]+$/;

export type Opened<T> = { payload: T; expiresAt: Date };

export type Sealer<T> = {
  seal(payload: T, expiresAt: Date): string;
  /** The payload and expiry; undefined when the value was not sealed by this key for this kind (or is malformed). Expiry is the caller's to check. */
  open(sealed: string): Opened<T> | undefined;
};

/**
 * How a payload is written inside the seal. Payloads whose every byte is in every token keep
 * readable names in code and short keys on the wire; only seal/open apply the mapping.
 */
export type WireCodec<T> = { toWire(payload: T): unknown; fromWire(wire: unknown): T | undefined };

const asIs = <T>(): WireCodec<T> => ({ toWire: (payload) => payload, fromWire: (wire) => wire as T });

export function createSealer<T>(keyEncryptionKey: Buffer, kind: SealedKind, codec: WireCodec<T> = asIs<T>()): Sealer<T> {
  // A KeyObject, made once: given raw bytes, every cipher would import the key again (3x the cost of a seal).
  const key = createSecretKey(Buffer.from(hkdfSync('sha256', keyEncryptionKey, Buffer.alloc(0), `oauth sealed ${kind} v${VERSION}`, 32)));
  const aad = Buffer.from(kind);
  return {
    seal(payload, expiresAt) {
      const iv = randomBytesPooled(IV_BYTES);
      const cipher = createCipheriv('aes-256-gcm', key, iv);
      cipher.setAAD(aad);
      const plaintext = JSON.stringify({ p: codec.toWire(payload), e: expiresAt.getTime() });
      const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
      return Buffer.concat([Buffer.of(VERSION), iv, body, cipher.getAuthTag()]).toString('base64url');
    },
    open(sealed) {
      if (sealed.length > MAX_SEALED_LENGTH || !SEALED.test(sealed)) return undefined;
      const bytes = Buffer.from(sealed, 'base64url');
      if (bytes.length < 1 + IV_BYTES + TAG_BYTES + 2 || bytes[0] !== VERSION) return undefined;
      // Only the canonical spelling: base64url decoding ignores trailing bits, so `<value>x` would decode alike.
      if (bytes.toString('base64url') !== sealed) return undefined;
      try {
        const decipher = createDecipheriv('aes-256-gcm', key, bytes.subarray(1, 1 + IV_BYTES));
        decipher.setAAD(aad);
        decipher.setAuthTag(bytes.subarray(bytes.length - TAG_BYTES));
        const plaintext = Buffer.concat([decipher.update(bytes.subarray(1 + IV_BYTES, bytes.length - TAG_BYTES)), decipher.final()]).toString('utf8');
        const { p, e } = JSON.parse(plaintext) as { p: unknown; e: number };
        const payload = codec.fromWire(p);
        return payload === undefined ? undefined : { payload, expiresAt: new Date(e) };
      } catch {
        return undefined; // tampered, truncated, another key or another kind
      }
    },
  };
}
