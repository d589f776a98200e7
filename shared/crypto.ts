// High-entropy values and their hashes: codes, tokens, handles and secrets are stored only as SHA-256.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/** A URL-safe random value of `bytes` bytes of entropy (default 256 bits). */
export function randomToken(bytes = 32): string {
  return randomBytes(bytes).toString('base64url');
}

/**
 * A random identifier an operator types as an argument (`oauth-admin grants revoke <grant_id>`):
 * base64url that never begins with "-", which a command line would read as an option.
 */
export function randomIdentifier(bytes = 16): string {
  for (;;) {
    const id = randomToken(bytes);
    if (!id.startsWith('-')) return id;
  }
}

export function sha256(value: string): string {
  return createHash('sha256').update(value).digest('base64url');
}

/** Constant-time string comparison (for values of equal public length, e.g. hashes). */
export function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}
