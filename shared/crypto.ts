// High-entropy values and their hashes: codes, tokens, handles and secrets are stored only as SHA-256.
import { createHash, randomBytes, randomFillSync, timingSafeEqual } from 'node:crypto';

// Random bytes are drawn from a pool that OpenSSL's CSPRNG fills 4 KiB at a time, as Node does for
// randomUUID: a call into OpenSSL costs 5–7 µs here whatever its size, and every token, code, IV and
// id would pay it (docs/performance.md). Bytes handed out are zeroed in the pool.
const POOL_BYTES = 4096;
const pool = Buffer.alloc(POOL_BYTES);
let poolUsed = POOL_BYTES;

/** `bytes` fresh random bytes (a copy: the pool's own memory is never handed out). */
export function randomBytesPooled(bytes: number): Buffer {
  if (bytes > POOL_BYTES / 4) return randomBytes(bytes);
  if (poolUsed + bytes > POOL_BYTES) {
    randomFillSync(pool);
    poolUsed = 0;
  }
  const taken = Buffer.from(pool.subarray(poolUsed, poolUsed + bytes));
  pool.fill(0, poolUsed, poolUsed + bytes);
  poolUsed += bytes;
  return taken;
}

/** A URL-safe random value of `bytes` bytes of entropy (default 256 bits). */
export function randomToken(bytes = 32): string {
  return randomBytesPooled(bytes).toString('base64url');
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
