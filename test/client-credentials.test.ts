// Client credentials (RFC 6749 §4.4; CONTRACT "More of the standards"): a confidential client
// registered with `oauth-admin clients create … --grant-type client_credentials` gets an access
// token for itself through a real OAuth client library (oauth4webapi): `sub` = client_id, no refresh
// token, scope within the client's. A resource server's oauth.token.validate names no username, and
// a rule naming groups never admits it; introspection names no username; the issuance is audited;
// and the operator's off switches end such tokens within 1 s like any other.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as oauth from 'oauth4webapi';
import { decodeJwt } from 'jose';
import { Subjects } from '#shared/nats/subjects.ts';
import { resourceServersCollection } from '#shared/reference-data/resource-servers.ts';
import { main as adminMain } from '../services/admin-cli/main.ts';
import { startSystem, type SeededClient, type System } from './helpers/system.ts';
import { tokenRequest, discoverAuthorizationServer } from './helpers/oauth.ts';
import { postForm } from './helpers/token-requests.ts';
import { collectAuditEvents, forClient } from './helpers/audit.ts';

const insecure = { [oauth.allowInsecureRequests]: true }; // the test issuer is http://localhost

let system: System;
let readScope: string;
let writeScope: string;
let resourceServer: SeededClient;
const MANY_RESOURCE_SERVERS = 5000;

before(async () => {
  system = await startSystem('client-credentials');
  readScope = await system.seed.scope('reports');
  writeScope = await system.seed.scope('uploads');
  resourceServer = await system.seed.client({ scopes: [readScope], refreshTokens: false });
  await system.seed.resource('/reports/*', [readScope]);
  await system.seed.resource('/staff-reports/*', [readScope], ['staff']);
});
after(async () => {
  await system?.stop();
});

const cliEnv = () => ({ NODE_ENV: 'test', NATS_URL: system.env.NATS_URL!, MONGODB_URI: system.env.MONGODB_URI! });

async function admin(...args: string[]): Promise<{ code: number; out: string }> {
  let out = '';
  const code = await adminMain(args, cliEnv(), { out: (text) => void (out += `${text}\n`), warn: () => undefined });
  return { code, out };
}

/** A client registered through the CLI with only the client credentials grant (no redirect URI). */
async function machineClient(): Promise<{ clientId: string; clientSecret: string }> {
  const created = await admin('clients', 'create', '--name', 'Nightly job', '--type', 'confidential', '--grant-type', 'client_credentials',
    '--scope', readScope, '--scope', writeScope, '--json');
  assert.equal(created.code, 0, 'clients create');
  const { client_id: clientId, client_secret: clientSecret } = JSON.parse(created.out) as { client_id: string; client_secret: string };
  return { clientId, clientSecret };
}

const validate = async (token: string, extra: Record<string, unknown> = {}) =>
  (await system.nc.request(Subjects.tokenValidate, JSON.stringify({ token, ...extra }), { timeout: 3000 })).json<Record<string, unknown>>();

describe('grant_type=client_credentials', () => {
  it('issues a token for the client itself (oauth4webapi), validated over NATS with no username, audited', async () => {
    const { clientId, clientSecret } = await machineClient();
    const audit = await collectAuditEvents(system.nc, forClient(clientId));
    try {
      const as = await discoverAuthorizationServer(system);
      assert.ok(as.grant_types_supported?.includes('client_credentials'));
      const client: oauth.Client = { client_id: clientId };
      const tokens = await oauth.processClientCredentialsResponse(as, client,
        await oauth.clientCredentialsGrantRequest(as, client, oauth.ClientSecretBasic(clientSecret), new URLSearchParams({ scope: readScope }), insecure));
      assert.equal(tokens.token_type, 'bearer');
      assert.equal(tokens.scope, readScope);
      assert.equal(tokens.refresh_token, undefined);
      const claims = decodeJwt(tokens.access_token);
      assert.equal(claims.sub, clientId);
      assert.equal(claims.client_id, clientId);
      assert.equal(claims.gid, undefined);

      const reply = await validate(tokens.access_token, { scopes: [readScope], resource: '/reports/daily' });
      assert.equal(reply.active, true);
      assert.equal(reply.allowed, true);
      assert.equal(reply.sub, clientId);
      assert.equal('username' in reply, false);
      const staffOnly = await validate(tokens.access_token, { resource: '/staff-reports/daily' });
      assert.deepEqual([staffOnly.active, staffOnly.allowed, staffOnly.error], [true, false, 'access_denied']);
      const beyond = await validate(tokens.access_token, { scopes: [writeScope] });
      assert.deepEqual([beyond.allowed, beyond.error], [false, 'insufficient_scope']);

      const introspection = await postForm(`${system.urls.tokenService}/introspect`, resourceServer, { token: tokens.access_token });
      assert.equal(introspection.body.active, true);
      assert.equal(introspection.body.sub, clientId);
      assert.equal('username' in introspection.body, false);

      const [issued] = await audit.waitFor('oauth.token.issued');
      assert.equal(issued!.subject, clientId);
      assert.equal(issued!.data.grant_type, 'client_credentials');
      assert.equal(issued!.data.sub, clientId);
      assert.equal(issued!.data.scope, readScope);
      const everything = JSON.stringify(audit.events);
      assert.ok(!everything.includes(tokens.access_token) && !everything.includes(clientSecret));
    } finally {
      await audit.stop();
    }
  });

  it('without scope grants every scope of the client; client_secret_post works too', async () => {
    const { clientId, clientSecret } = await machineClient();
    const res = await tokenRequest(system, { grant_type: 'client_credentials' }, { clientId, clientSecret, method: 'post' });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.deepEqual(String(res.body.scope).split(' ').sort(), [readScope, writeScope].sort());
    assert.equal(res.body.refresh_token, undefined);
    assert.equal(res.headers.get('cache-control'), 'no-store');
  });

  it('refuses a scope beyond the client or malformed (invalid_scope), an unregistered client (unauthorized_client), no secret (invalid_client)', async () => {
    const { clientId, clientSecret } = await machineClient();
    const auth = { clientId, clientSecret };
    for (const scope of [`${readScope} other.scope`, 'other.scope', `${readScope}\u0000`, '"quoted"', `${readScope}  ${writeScope}`]) {
      const res = await tokenRequest(system, { grant_type: 'client_credentials', scope }, auth);
      assert.equal(res.status, 400, scope);
      assert.equal(res.body.error, 'invalid_scope', scope);
    }
    const codeClient = await system.seed.client({ scopes: [readScope] });
    const refused = await tokenRequest(system, { grant_type: 'client_credentials' }, { clientId: codeClient.clientId, clientSecret: codeClient.clientSecret! });
    assert.equal(refused.status, 400);
    assert.equal(refused.body.error, 'unauthorized_client');
    const anonymous = await tokenRequest(system, { grant_type: 'client_credentials', client_id: clientId });
    assert.equal(anonymous.status, 401);
    assert.equal(anonymous.body.error, 'invalid_client');
    const wrong = await tokenRequest(system, { grant_type: 'client_credentials' }, { clientId, clientSecret: `${clientSecret}x` });
    assert.equal(wrong.status, 401);
  });

  it('RFC 8707: resource names the token\u2019s audience with the scope cut to what it accepts; an unregistered or malformed one is invalid_target', async () => {
    const { clientId, clientSecret } = await machineClient();
    // Asked at once after `create`: token-service waits for the load the announcement started
    // (ReferenceCache.findResourceServer), once the announcement has reached it (flushed to NATS here
    // before the request is sent). Many registered servers make that load outlast the announcement's
    // way to the request, where a lookup in the cache alone was refused.
    const fillers = Array.from({ length: MANY_RESOURCE_SERVERS }, (_, i) => ({ _id: `https://filler-${i}.example.com/`, scopes: [readScope], createdAt: new Date() }));
    await resourceServersCollection(system.db).insertMany(fillers);
    let validated: Record<string, unknown>;
    try {
      const api = await system.seed.resourceServer([readScope]);
      const res = await tokenRequest(system, { grant_type: 'client_credentials', resource: api }, { clientId, clientSecret });
      assert.equal(res.status, 200, JSON.stringify(res.body));
      const claims = decodeJwt(String(res.body.access_token));
      assert.equal(claims.aud, api);
      assert.equal(claims.scope, readScope);
      // validation-service heard the same announcement; its lookup of the token's aud waits for that load too.
      validated = await validate(String(res.body.access_token), { audience: api, scopes: [readScope] });
    } finally {
      // Later loads of this file's services are quick again.
      await resourceServersCollection(system.db).deleteMany({ _id: { $in: fillers.map((f) => f._id) } });
    }
    assert.equal(validated.active, true, JSON.stringify(validated));
    assert.equal(validated.allowed, true, JSON.stringify(validated));
    for (const resource of ['https://unregistered.example.com/', 'not a uri']) {
      const refused = await tokenRequest(system, { grant_type: 'client_credentials', resource }, { clientId, clientSecret });
      assert.equal(refused.status, 400, resource);
      assert.equal(refused.body.error, 'invalid_target', resource);
    }
  });

  it('a client with only client_credentials cannot start an authorization (error page, no redirect)', async () => {
    const { clientId } = await machineClient();
    const res = await fetch(`${system.urls.authorizeService}/authorize?${new URLSearchParams({ response_type: 'code', client_id: clientId, scope: readScope, state: 's' })}`, { redirect: 'manual' });
    assert.ok(res.status >= 400 && res.status < 500, String(res.status));
    assert.equal(res.headers.get('location'), null);
    await res.arrayBuffer();
  });

  it('clients disable ends its tokens within 1 s; enable lets it get new ones; grants revoke --client ends them too', async () => {
    const { clientId, clientSecret } = await machineClient();
    const issue = async () => {
      const res = await tokenRequest(system, { grant_type: 'client_credentials' }, { clientId, clientSecret });
      assert.equal(res.status, 200, JSON.stringify(res.body));
      return res.body.access_token as string;
    };
    const before = await issue();
    assert.equal((await validate(before)).active, true);
    const disabled = await admin('clients', 'disable', clientId);
    assert.equal(disabled.code, 0);
    await eventually(async () => (await validate(before)).active === false);
    const refused = await tokenRequest(system, { grant_type: 'client_credentials' }, { clientId, clientSecret });
    assert.equal(refused.body.error, 'invalid_client');

    assert.equal((await admin('clients', 'enable', clientId)).code, 0);
    const after = await eventuallyValue(async () => {
      const res = await tokenRequest(system, { grant_type: 'client_credentials' }, { clientId, clientSecret });
      return res.status === 200 ? res.body.access_token as string : undefined;
    });
    assert.equal((await validate(after)).active, true);
    assert.equal((await validate(before)).active, false, 'enabling revives nothing');

    assert.equal((await admin('grants', 'revoke', '--client', clientId)).code, 0);
    await eventually(async () => (await validate(after)).active === false);
  });

  it('the client revokes its own token at /revoke (RFC 7009): inactive within 1 s', async () => {
    const { clientId, clientSecret } = await machineClient();
    const res = await tokenRequest(system, { grant_type: 'client_credentials' }, { clientId, clientSecret });
    const token = res.body.access_token as string;
    const revoked = await fetch(`${system.urls.tokenService}/revoke`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`${clientId}:${clientSecret}`).toString('base64')}` },
      body: new URLSearchParams({ token }),
    });
    assert.equal(revoked.status, 200);
    await revoked.arrayBuffer();
    await eventually(async () => (await validate(token)).active === false);
  });
});

describe('oauth-admin clients create --grant-type', () => {
  it('refuses client_credentials for a public client with one line and a non-zero exit', async () => {
    const res = await admin('clients', 'create', '--name', 'SPA', '--type', 'public', '--grant-type', 'client_credentials', '--scope', readScope);
    assert.notEqual(res.code, 0);
    assert.equal(res.out, '', 'nothing created, nothing printed');
  });

  it('shows the grant types; a client may have both grants', async () => {
    const created = await admin('clients', 'create', '--name', 'Both', '--type', 'confidential', '--grant-type', 'authorization_code',
      '--grant-type', 'client_credentials', '--redirect-uri', 'https://both.example.com/cb', '--scope', readScope, '--json');
    assert.equal(created.code, 0);
    const { client_id: clientId } = JSON.parse(created.out) as { client_id: string };
    const shown = JSON.parse((await admin('clients', 'show', clientId, '--json')).out) as Record<string, unknown>;
    assert.deepEqual(shown.grant_types, ['authorization_code', 'client_credentials']);
    assert.equal(shown.refresh_grace_seconds, 0);
  });

  it('stores --refresh-grace-seconds, shows it in show and list, and refuses one beyond 60 s', async () => {
    const created = await admin('clients', 'create', '--name', 'Mobile', '--type', 'public', '--redirect-uri', 'com.example.app:/cb',
      '--scope', readScope, '--refresh-tokens', '--refresh-grace-seconds', '15', '--json');
    assert.equal(created.code, 0);
    const { client_id: clientId } = JSON.parse(created.out) as { client_id: string };
    const doc = await system.db.collection('clients').findOne({ _id: clientId as never });
    assert.equal(doc?.refreshGraceSeconds, 15);
    assert.equal((JSON.parse((await admin('clients', 'show', clientId, '--json')).out) as Record<string, unknown>).refresh_grace_seconds, 15);
    const listed = JSON.parse((await admin('clients', 'list', '--json')).out) as Record<string, unknown>[];
    assert.equal(listed.find((c) => c.client_id === clientId)?.refresh_grace_seconds, 15);
    assert.match((await admin('clients', 'list')).out, new RegExp(`${clientId}.*15 s`));
    for (const bad of ['61', '-1', '1.5', 'ten']) {
      const refused = await admin('clients', 'create', '--name', 'X', '--type', 'public', '--redirect-uri', 'com.example.app:/cb', '--scope', readScope,
        '--refresh-grace-seconds', bad);
      assert.notEqual(refused.code, 0, bad);
      assert.equal(refused.out, '', bad);
    }
  });
});

/** Polls `check` every 50 ms until it holds; fails after 1 s (the contract's bound). */
async function eventually(check: () => Promise<boolean>, withinMs = 1000): Promise<void> {
  await eventuallyValue(async () => ((await check()) ? true : undefined), withinMs);
}

async function eventuallyValue<T>(get: () => Promise<T | undefined>, withinMs = 3000): Promise<T> {
  const deadline = Date.now() + withinMs;
  for (;;) {
    const value = await get();
    if (value !== undefined) return value;
    if (Date.now() > deadline) assert.fail(`not within ${withinMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
