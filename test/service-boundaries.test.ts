// One home for grant state: validation-service answers oauth.token.validate from public keys,
// the revocation feed and cached reference data. It holds no secret and reaches no grant state,
// so none of its files (tests aside) may name what would let it: the key-encryption key, the
// refresh token format, grant_claims, or client authentication.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const DIR = path.join(ROOT, 'services/validation-service');

const FORBIDDEN = [
  /key-encryption|keyEncryptionKey|OAUTH_KEY_ENCRYPTION_KEY/,
  /grants\/refresh-tokens|refreshTokenSealer/,
  /grant_claims/,
  /client-auth\/|authenticateClient|CLIENT_AUTH_/,
  /\/introspect/,
];

describe('validation-service', () => {
  it('names no key-encryption key, refresh token format, grant claim or client authentication', async () => {
    const files = (await readdir(DIR)).filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts'));
    assert.ok(files.includes('main.ts'));
    for (const file of files) {
      const source = await readFile(path.join(DIR, file), 'utf8');
      for (const pattern of FORBIDDEN) assert.doesNotMatch(source, pattern, `${file} names ${pattern}`);
    }
  });
});
