// No secret at rest or in the logs: runs every flow that handles one — sign-in (a failed one
// included) and consent through the real pages, code exchange, refresh, reuse of a rotated refresh
// token, code replay, introspection, revocation, withdrawing consent, sign-out, a wrong client
// secret and client secret rotation — with the services logging at debug into this test, then reads
// every document of every collection of the test's database, every event of the audit stream and
// every log line, and finds none of the secrets those flows used: access and refresh tokens,
// codes, code verifiers, client secrets, passwords, session ids, authorization request handles,
// anti-CSRF tokens, the key-encryption key and the private signing keys (stored only encrypted).
// The SHA-256 hashes of the others are expected where the design stores them.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { BSON } from 'mongodb';
import { decrypt, type EncryptedBlob } from '#shared/keys/key-encryption.ts';
import { randomToken, sha256 } from '#shared/crypto.ts';
import { announceReferenceDataChange } from '#shared/reference-data/reference-cache.ts';
import { rotateClientSecret } from '../services/admin-cli/reference-data-admin.ts';
import { startSystem, type SeededClient, type System } from './helpers/system.ts';
import { authorizeUrl, exchangeCode, pkcePair, tokenRequest } from './helpers/oauth.ts';
import { refreshRequest, revokeRequest } from './helpers/token-requests.ts';
import { collectAuditEvents, type AuditCollector } from './helpers/audit.ts';
import { Browser } from './helpers/browser.ts';

let system: System;
const logLines: string[] = [];
/** Every secret the flows used, by what it is. */
const secrets = new Map<string, string>();
/** SHA-256 hashes the design stores in place of secrets (proof the scan reads where they would be). */
const expectedHashes = new Map<string, string>();
let audit: AuditCollector;

function secret(label: string, value: string | undefined): string {
  assert.ok(value && value.length >= 12, `${label} is a real secret (got ${JSON.stringify(value)})`);
  secrets.set(label, value);
  return value;
}

/** Every way a secret could show up in text: as is, URL-encoded, and for a JWT its signature alone. */
function variants(value: string): string[] {
  const forms = new Set([value, encodeURIComponent(value)]);
  const parts = value.split('.');
  if (parts.length === 3 && parts[2]!.length >= 40) forms.add(parts[2]!);
  return [...forms];
}

/** Labels of the secrets found in `text`. */
function leaks(text: string): string[] {
  return [...secrets].filter(([, value]) => variants(value).some((v) => text.includes(v))).map(([label]) => label);
}

const basic = (id: string, pass: string) => Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(pass)}`).toString('base64');

async function introspect(as: SeededClient, token: string): Promise<Record<string, unknown>> {
  const res = await fetch(`${system.urls.tokenService}/introspect`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${basic(as.clientId, as.clientSecret!)}` },
    body: new URLSearchParams({ token }),
  });
  assert.equal(res.status, 200);
  return (await res.json()) as Record<string, unknown>;
}

before(async () => {
  const kek = randomBytes(32);
  secret('key-encryption key', kek.toString('base64url'));
  system = await startSystem('nosecrets', {
    env: { LOG_LEVEL: 'debug', OAUTH_KEY_ENCRYPTION_KEY: kek.toString('base64url') },
    logStream: { write: (line: string) => void logLines.push(line) },
  });
  audit = await collectAuditEvents(system.nc);
  const scope = await system.seed.scope('orders');
  const client = await system.seed.client({ scopes: [scope], refreshTokens: true });
  const resourceServer = await system.seed.client({ scopes: [scope], refreshTokens: false });
  const user = await system.seed.user();
  secret('client secret', client.clientSecret);
  secret('resource server client secret', resourceServer.clientSecret);
  secret('client Basic credentials', basic(client.clientId, client.clientSecret!));
  secret('password', user.password);

  // Through the pages: a failed sign-in, then sign-in and consent.
  const browser = new Browser([system.urls.authorizeService, system.urls.consentUi]);
  const { verifier, challenge } = pkcePair();
  secret('code verifier', verifier);
  const login = await browser.navigate(authorizeUrl(system, {
    response_type: 'code', client_id: client.clientId, redirect_uri: client.redirectUri, scope, state: `st-${randomToken(8)}`,
    code_challenge: challenge, code_challenge_method: 'S256',
  }));
  secret('authorization request handle', new URL(login.url).searchParams.get('handle') ?? undefined);
  // The handle, the code and refresh tokens are sealed (encrypted and authenticated), never stored, not even as hashes.
  secret('anti-CSRF token (sign-in form)', browser.form(login, 'Sign in').hidden('_csrf'));
  const wrongPassword = secret('wrong password', `wrong-${randomToken(12)}`);
  const failed = await browser.form(login, 'Sign in').fill('Username', user.username).fill('Password', wrongPassword).submit('Sign in');
  assert.equal(browser.jar.get(system.urls.consentUi, 'session'), undefined, 'a wrong password signs no one in');
  const consent = await browser.follow(await browser.form(failed, 'Sign in').fill('Username', user.username).fill('Password', user.password).submit('Sign in'));
  secret('session id', browser.jar.get(system.urls.consentUi, 'session')?.value);
  secret('anti-CSRF token (consent form)', browser.form(consent, 'Allow').hidden('_csrf'));
  const approved = await browser.form(consent, 'Allow').submit('Allow');
  assert.equal(approved.status, 303);
  const code = secret('code', new URL(approved.location!).searchParams.get('code') ?? undefined);

  // Token endpoint: exchange (Basic), refresh (client_secret_post), reuse of the rotated-out token, code replay.
  const tokens = await exchangeCode(system, client, code, verifier);
  assert.equal(tokens.status, 200, JSON.stringify(tokens.body));
  const access = secret('access token', tokens.body.access_token as string);
  const refresh = secret('refresh token', tokens.body.refresh_token as string);
  const refreshed = await tokenRequest(system, { grant_type: 'refresh_token', refresh_token: refresh }, { clientId: client.clientId, clientSecret: client.clientSecret!, method: 'post' });
  assert.equal(refreshed.status, 200, JSON.stringify(refreshed.body));
  secret('refreshed access token', refreshed.body.access_token as string);
  secret('rotated refresh token', refreshed.body.refresh_token as string);
  assert.equal((await refreshRequest(system, client, refresh)).status, 400, 'reuse of a rotated-out refresh token is refused');
  assert.equal((await exchangeCode(system, client, code, verifier)).status, 400, 'a replayed code is refused');

  // A second grant, for introspection, revocation and the owner's withdrawal.
  const secondPkce = pkcePair();
  const again = await browser.navigate(authorizeUrl(system, {
    response_type: 'code', client_id: client.clientId, redirect_uri: client.redirectUri, scope, state: `st-${randomToken(8)}`,
    code_challenge: secondPkce.challenge, code_challenge_method: 'S256',
  }));
  secret('second handle', new URL(again.url).searchParams.get('handle') ?? undefined);
  const secondApproval = await browser.form(again, 'Allow').submit('Allow');
  const secondCode = secret('second code', new URL(secondApproval.location!).searchParams.get('code') ?? undefined);
  secret('second code verifier', secondPkce.verifier);
  const secondTokens = await exchangeCode(system, client, secondCode, secondPkce.verifier);
  assert.equal(secondTokens.status, 200, JSON.stringify(secondTokens.body));
  const secondAccess = secret('second access token', secondTokens.body.access_token as string);
  const secondRefresh = secret('second refresh token', secondTokens.body.refresh_token as string);
  assert.equal((await introspect(resourceServer, secondAccess)).active, true);
  assert.equal((await introspect(client, secondRefresh)).active, true);
  assert.equal((await introspect(resourceServer, access)).active, false, 'the first grant was revoked by the reuse');
  assert.equal((await revokeRequest(system, client, secondAccess)).status, 200);

  // A wrong client secret, then rotation by the admin side; the new secret works.
  const wrongSecret = secret('wrong client secret', `wrong-${randomToken(16)}`);
  assert.equal((await tokenRequest(system, { grant_type: 'refresh_token', refresh_token: secondRefresh }, { clientId: client.clientId, clientSecret: wrongSecret })).status, 401);
  const { clientSecret: rotated } = await rotateClientSecret(system.db, client.clientId);
  secret('rotated client secret', rotated);
  expectedHashes.set('rotated client secret', sha256(rotated));
  const rotatedClient = { ...client, clientSecret: rotated };
  announceReferenceDataChange(system.nc, 'clients');
  await system.nc.flush();
  let withRotated = await refreshRequest(system, rotatedClient, secondRefresh);
  for (let i = 0; i < 20 && withRotated.status === 401; i++) {
    // The services reload the client on the announcement; give them a moment.
    await new Promise((r) => setTimeout(r, 100));
    withRotated = await refreshRequest(system, rotatedClient, secondRefresh);
  }
  assert.equal(withRotated.status, 200, JSON.stringify(withRotated.body));
  secret('refresh token after rotation', withRotated.body.refresh_token as string);
  secret('access token after rotation', withRotated.body.access_token as string);

  // The owner withdraws consent and signs out.
  const authorizations = await browser.navigate(`${system.urls.consentUi}/ui/authorizations`);
  secret('anti-CSRF token (authorizations page)', browser.form(authorizations, 'Revoke').hidden('_csrf'));
  const revoked = await browser.follow(await browser.form(authorizations, 'Revoke').submit('Revoke'));
  assert.equal(revoked.status, 200);
  const signedOut = await browser.form(revoked, 'Sign out').submit('Sign out');
  assert.ok(signedOut.status < 400, `signed out (${signedOut.status})`);

  // Another owner's browser stays signed in at a consent page: its session and request are stored, hashed.
  const other = new Browser([system.urls.authorizeService, system.urls.consentUi]);
  const otherLogin = await other.navigate(authorizeUrl(system, {
    response_type: 'code', client_id: client.clientId, redirect_uri: client.redirectUri, scope, state: `st-${randomToken(8)}`,
    code_challenge: pkcePair().challenge, code_challenge_method: 'S256',
  }));
  secret('pending request handle', new URL(otherLogin.url).searchParams.get('handle') ?? undefined);
  const otherConsent = await other.follow(await other.form(otherLogin, 'Sign in').fill('Username', user.username).fill('Password', user.password).submit('Sign in'));
  assert.ok(other.form(otherConsent, 'Allow'));
  const sessionId = secret('signed-in session id', other.jar.get(system.urls.consentUi, 'session')?.value);
  expectedHashes.set('signed-in session id', sha256(sessionId));

  // The private part of every signing key: stored only encrypted under the key-encryption key.
  const keys = await system.db.collection<{ _id: string; privateJwkEncrypted: EncryptedBlob }>('signing_keys').find({}).toArray();
  assert.ok(keys.length >= 1);
  for (const key of keys) secret(`private signing key ${key._id}`, (JSON.parse(decrypt(kek, key.privateJwkEncrypted, key._id)) as { d: string }).d);

  // Audit events of all this reach the stream (the last ones: the owner's withdrawal and sign-out).
  await audit.waitFor('oauth.login.failed');
  await audit.waitFor('oauth.consent.revoked', 2);
  await audit.waitFor('oauth.logout');
});

after(async () => {
  await audit?.stop();
  await system?.stop();
});

describe('no secrets at rest or in logs', () => {
  it('keeps no secret in any document of any collection, only the SHA-256 where the design says', async () => {
    const collections = await system.db.listCollections({}, { nameOnly: true }).toArray();
    assert.ok(collections.length >= 8, `the flows wrote the services' collections (${collections.map((c) => c.name).join(', ')})`);
    const found: string[] = [];
    let dump = '';
    for (const { name } of collections) {
      const text = BSON.EJSON.stringify(await system.db.collection(name).find({}).toArray(), { relaxed: true });
      dump += text;
      for (const label of leaks(text)) found.push(`${label} in ${name}`);
    }
    assert.deepEqual(found, []);
    for (const [label, hash] of expectedHashes) assert.ok(dump.includes(hash), `the SHA-256 of the ${label} is stored`);
  });

  it('puts no secret in any audit event', () => {
    assert.ok(audit.events.length >= 10, `the flows were audited (${audit.events.length} events)`);
    const found = audit.events.flatMap((event) => leaks(JSON.stringify(event)).map((label) => `${label} in ${event.type}`));
    assert.deepEqual(found, []);
  });

  it('writes no secret to the logs, at debug level', () => {
    const services = new Set(logLines.map((line) => (JSON.parse(line) as { service?: string }).service));
    for (const name of ['authorize-service', 'consent-ui', 'token-service', 'validation-service']) assert.ok(services.has(name), `${name} logged`);
    assert.ok(logLines.some((line) => line.includes('"level":"debug"')), 'debug lines were written');
    const found = logLines.flatMap((line) => leaks(line).map((label) => `${label}: ${line.slice(0, 300)}`));
    assert.deepEqual(found, []);
  });
});
