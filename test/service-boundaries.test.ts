// One home for grant state: validation-service answers oauth.token.validate from public keys,
// the revocation feed and cached reference data. It holds no secret and reaches no grant state,
// so none of its files (tests aside) may name what would let it: the key-encryption key, the
// refresh token format, grant_claims, or client authentication. Client authentication and its
// lockout records (client_auth_failures) have one owner, token-service (/token, /revoke,
// /introspect, /par): authorize-service's files name none of it either. consent-ui holds the
// key-encryption key to read pending requests from their handles, and derives no other sealed kind:
// it never opens or makes a code or a refresh token.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const DIR = path.join(ROOT, 'services/validation-service');
const AUTHORIZE_DIR = path.join(ROOT, 'services/authorize-service');
const CONSENT_UI_DIR = path.join(ROOT, 'services/consent-ui');

const FORBIDDEN = [
  /key-encryption|keyEncryptionKey|OAUTH_KEY_ENCRYPTION_KEY/,
  /grants\/refresh-tokens|refreshTokenSealer/,
  /grant_claims/,
  /client-auth\/|authenticateClient|CLIENT_AUTH_/,
  /\/introspect/,
];

/** What would let a service authenticate clients, or touch the lockout records of client authentication. */
const CLIENT_AUTHENTICATION = [/client-auth\/|authenticateClient|ClientAuth|CLIENT_AUTH_|client_auth_failures|secretHash/];

/** The service's own modules (tests aside), each with its source. */
async function sourcesOf(dir: string): Promise<[string, string][]> {
  const files = (await readdir(dir)).filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts'));
  assert.ok(files.includes('main.ts'));
  return Promise.all(files.map(async (file): Promise<[string, string]> => [file, await readFile(path.join(dir, file), 'utf8')]));
}

describe('validation-service', () => {
  it('names no key-encryption key, refresh token format, grant claim or client authentication', async () => {
    for (const [file, source] of await sourcesOf(DIR)) {
      for (const pattern of FORBIDDEN) assert.doesNotMatch(source, pattern, `${file} names ${pattern}`);
    }
  });
});

describe('authorize-service', () => {
  it('names no client authentication, client secret hash or client_auth_failures: PAR authenticates at token-service', async () => {
    const sources = await sourcesOf(AUTHORIZE_DIR);
    // It still takes pushed requests (from token-service, over NATS), so the check has something to look at.
    assert.ok(sources.some(([file]) => file === 'push-authorization-request.ts'));
    for (const [file, source] of sources) {
      for (const pattern of CLIENT_AUTHENTICATION) assert.doesNotMatch(source, pattern, `${file} names ${pattern}`);
    }
  });
});

describe('consent-ui', () => {
  it('opens pending requests only: it names no code or refresh token format, no grant claim and no signing key', async () => {
    const sources = await sourcesOf(CONSENT_UI_DIR);
    assert.ok(sources.some(([, source]) => /authorizationRequestSealer/.test(source)), 'it does read handles');
    for (const [file, source] of sources) {
      const otherSealed = [/authorization-codes|authorizationCodeSealer|'authorization-code'/, /refresh-tokens|refreshTokenSealer|'refresh-token'/, /createSealer/];
      for (const pattern of [...otherSealed, /grant_claims/, /signing-key|keys\/(?!key-encryption)/]) {
        assert.doesNotMatch(source, pattern, `${file} names ${pattern}`);
      }
    }
  });
});
