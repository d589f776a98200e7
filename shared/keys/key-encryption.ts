// Private signing keys are stored encrypted (AES-256-GCM) under the key-encryption key from
// OAUTH_KEY_ENCRYPTION_KEY, and the keys that seal requests, codes and refresh tokens are derived
// from it (shared/grants/sealed-state.ts). Outside production, and only when the issuer, every
// public URL, the database and NATS are all loopback (checkDevelopmentKey), a fixed, publicly known
// development key stands in, with a loud warning: it keeps instances and restarts able to read
// each other's keys and sealed values, and it is obviously not a secret.
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { checkDevelopmentKey, type CommonConfig } from '#shared/config.ts';
import type { Logger } from '#shared/logger.ts';

export type EncryptedBlob = { iv: string; tag: string; data: string };

const DEVELOPMENT_KEK = createHash('sha256').update('oauth-authorization-server development key-encryption key (NOT SECRET)').digest();

/**
 * The configured key, or the development key where checkDevelopmentKey allows it (checked again
 * here, whoever parsed the configuration: the admin CLI parses without it); a ConfigError otherwise.
 */
export function keyEncryptionKey(config: CommonConfig, log?: Logger): Buffer {
  if (config.OAUTH_KEY_ENCRYPTION_KEY) return Buffer.from(config.OAUTH_KEY_ENCRYPTION_KEY, 'base64url');
  // Config parsing already refuses production without a key; this is development or test, on loopback.
  checkDevelopmentKey(config);
  log?.warn('OAUTH_KEY_ENCRYPTION_KEY is not set: signing keys are encrypted, and codes and refresh tokens sealed, with the public DEVELOPMENT key (anyone can forge them). Loopback only; never run like this in production.');
  return DEVELOPMENT_KEK;
}

export function encrypt(kek: Buffer, plaintext: string, associatedData: string): EncryptedBlob {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', kek, iv);
  cipher.setAAD(Buffer.from(associatedData));
  const data = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
  return { iv: iv.toString('base64url'), tag: cipher.getAuthTag().toString('base64url'), data: data.toString('base64url') };
}

/** Throws when the blob was not encrypted under `kek` for `associatedData` (wrong key, tampering). */
export function decrypt(kek: Buffer, blob: EncryptedBlob, associatedData: string): string {
  const decipher = createDecipheriv('aes-256-gcm', kek, Buffer.from(blob.iv, 'base64url'));
  decipher.setAAD(Buffer.from(associatedData));
  decipher.setAuthTag(Buffer.from(blob.tag, 'base64url'));
  return Buffer.concat([decipher.update(Buffer.from(blob.data, 'base64url')), decipher.final()]).toString('utf8');
}
