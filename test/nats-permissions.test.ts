// deploy/nats.conf as production runs it: a nats-server of this file's own on that very file
// (passwords from the environment, as docker-compose passes them), every service connected as its
// own user, and the outside roles (resource-server, auditor) and the admin CLI as theirs. Proves
// that everything the system does still works, and that each user is refused what it does not
// need, each refusal seen as the server's permissions violation.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { connect } from '@nats-io/transport-node';
import { AuthorizationError, PermissionViolationError, type NatsConnection } from '@nats-io/nats-core';
import { DeliverPolicy, jetstream } from '@nats-io/jetstream';
import { randomToken } from '#shared/crypto.ts';
import { AUDIT_STREAM, Subjects } from '#shared/nats/subjects.ts';
import { CommonConfigSchema, parseConfig } from '#shared/config.ts';
import type { CloudEvent } from '#shared/audit/cloud-event.ts';
import { connectCliNats } from '../services/admin-cli/cli-context.ts';
import { main as adminMain } from '../services/admin-cli/main.ts';
import { ServiceNames, seeder, startSystem, type SeededClient, type SeededUser, type Seeder, type System } from './helpers/system.ts';
import { startPrivateNats, type PrivateNats } from './helpers/nats-server.ts';
import { codeViaNats, exchangeCode } from './helpers/oauth.ts';
import { refreshRequest, revokeRequest } from './helpers/token-requests.ts';
import { spawnNode } from './helpers/process.ts';

const CONFIG = fileURLToPath(new URL('../deploy/nats.conf', import.meta.url));
const Users = [...ServiceNames, 'admin-cli', 'resource-server', 'auditor'] as const;
type User = (typeof Users)[number];

// The format docker-compose.yml recommends: a letter, then letters and digits (nats.conf parses the value as a token).
const passwords = Object.fromEntries(Users.map((u) => [u, `p${randomBytes(24).toString('hex')}`])) as Record<User, string>;
/** AUTHORIZE_SERVICE_NATS_PASSWORD … AUDITOR_NATS_PASSWORD, as deploy/nats.conf reads them. */
const passwordVariable = (user: User) => `${user.toUpperCase().replaceAll('-', '_')}_NATS_PASSWORD`;

/** Every async error the server sent a connection (permissions violations among them). */
const serverErrors = new Map<NatsConnection, Error[]>();

function watchErrors(nc: NatsConnection): NatsConnection {
  const errors: Error[] = [];
  serverErrors.set(nc, errors);
  void (async () => {
    for await (const status of nc.status()) if (status.type === 'error') errors.push(status.error);
  })();
  return nc;
}

const opened: NatsConnection[] = [];

/** A connection as `user`, with replies on `_INBOX.<inbox>.…` (its own inbox unless told otherwise). */
async function connectAs(user: User, inbox: string = user): Promise<NatsConnection> {
  const nc = await connect({ servers: nats.url, name: `test-as-${user}`, user, pass: passwords[user], inboxPrefix: `_INBOX.${inbox}.${randomToken(8)}`, reconnect: false });
  opened.push(nc);
  return watchErrors(nc);
}

/** The server's permissions violation for `operation` on `subject` (a failed request carries it as its cause). */
const isViolation = (operation: 'publish' | 'subscription', subject: string) => (error: unknown): boolean => {
  const violation = error instanceof PermissionViolationError ? error : (error as { cause?: unknown } | undefined)?.cause;
  return violation instanceof PermissionViolationError && violation.operation === operation && violation.subject === subject;
};

/** Publishing `subject` as `nc` gets the server's "Permissions Violation for Publish". */
async function refusesPublish(nc: NatsConnection, subject: string): Promise<void> {
  nc.publish(subject, JSON.stringify({ forged: true }));
  const errors = serverErrors.get(nc)!;
  const deadline = Date.now() + 3000;
  while (!errors.some(isViolation('publish', subject))) {
    if (Date.now() > deadline) assert.fail(`no permissions violation for a publish to ${subject} (saw: ${errors.map((e) => e.message).join('; ') || 'none'})`);
    await nc.flush();
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** A request on `subject` as `nc` is refused by the server (the publish), never answered. */
async function refusesRequest(nc: NatsConnection, subject: string, body: unknown = {}): Promise<void> {
  await assert.rejects(nc.request(subject, JSON.stringify(body), { timeout: 3000 }), isViolation('publish', subject), `request to ${subject}`);
}

/** Subscribing to `subject` as `nc` is refused: the subscription closes with the server's violation. */
async function refusesSubscription(nc: NatsConnection, subject: string, queue?: string): Promise<void> {
  const sub = nc.subscribe(subject, queue ? { queue } : {});
  let timer: NodeJS.Timeout | undefined;
  const closed = await Promise.race([sub.closed, new Promise<'open'>((r) => (timer = setTimeout(() => r('open'), 3000)))]);
  clearTimeout(timer);
  if (closed === 'open') sub.unsubscribe();
  assert.ok(isViolation('subscription', subject)(closed), `subscribing to ${subject} is refused (got ${closed instanceof Error ? closed.message : String(closed)})`);
}

const validateBody = (token: string) => JSON.stringify({ token });

let nats: PrivateNats;
let system: System;
let admin: NatsConnection;
let seed: Seeder;
let scope: string;
let client: SeededClient;
let user: SeededUser;
const serviceLogs: string[] = [];

before(async () => {
  nats = await startPrivateNats([], { config: CONFIG, env: Object.fromEntries(Users.map((u) => [passwordVariable(u), passwords[u]])) });
  system = await startSystem('natsperms', {
    // No resync within a test: a revocation reaches the services by its broadcast, or not at all.
    env: { NATS_URL: nats.url, LOG_LEVEL: 'warn', REVOCATION_RESYNC_MS: '60000' },
    serviceEnv: Object.fromEntries(ServiceNames.map((s) => [s, { NATS_USER: s, NATS_PASSWORD: passwords[s] }])),
    // The test's own connection stands in for consent-ui (codeViaNats submits the decision as consent-ui does).
    natsConnect: { user: 'consent-ui', pass: passwords['consent-ui'], inboxPrefix: `_INBOX.consent-ui.${randomToken(8)}` },
    logStream: { write: (line: string) => void serviceLogs.push(line) },
  });
  watchErrors(system.nc);
  // Reference data is written and announced as the admin CLI does it, over the CLI's own connection.
  admin = watchErrors(await connectCliNats(parseConfig(CommonConfigSchema, { NATS_URL: nats.url, NATS_USER: 'admin-cli', NATS_PASSWORD: passwords['admin-cli'] })));
  opened.push(admin);
  seed = seeder(system.db, admin);
  scope = await seed.scope('orders');
  client = await seed.client({ scopes: [scope] });
  user = await seed.user();
});

after(async () => {
  await Promise.allSettled(opened.map((nc) => nc.close()));
  await system?.stop();
  await nats?.stop();
});

async function validateAs(nc: NatsConnection, token: string): Promise<{ active: boolean; allowed: boolean }> {
  return (await nc.request(Subjects.tokenValidate, validateBody(token), { timeout: 5000 })).json();
}

describe('deploy/nats.conf: what each user may do', () => {
  it('refuses a connection without credentials or with a wrong password', async () => {
    await assert.rejects(connect({ servers: nats.url, reconnect: false }), AuthorizationError);
    await assert.rejects(connect({ servers: nats.url, user: 'resource-server', pass: passwords.auditor, reconnect: false }), AuthorizationError);
  });

  it('runs the whole flow with each service as its own user: code, exchange, validation, refresh, revocation broadcast, consent revoke', async () => {
    const resourceServer = await connectAs('resource-server');
    const { code, verifier, redirectTo } = await codeViaNats(system, client, user);
    assert.equal(redirectTo.searchParams.get('iss'), system.urls.issuer);
    const tokens = await exchangeCode(system, client, code, verifier);
    assert.equal(tokens.status, 200, JSON.stringify(tokens.body));
    const validation = await validateAs(resourceServer, tokens.body.access_token as string);
    assert.equal(validation.active, true);
    assert.equal(validation.allowed, true);

    const refreshed = await refreshRequest(system, client, tokens.body.refresh_token as string);
    assert.equal(refreshed.status, 200, JSON.stringify(refreshed.body));
    const accessToken = refreshed.body.access_token as string;
    assert.equal((await validateAs(resourceServer, accessToken)).active, true);

    // token-service broadcasts the revocation; validation-service hears it.
    assert.equal((await revokeRequest(system, client, accessToken)).status, 200);
    const deadline = Date.now() + 3000;
    while ((await validateAs(resourceServer, accessToken)).active) {
      assert.ok(Date.now() < deadline, 'the revoked token turns inactive (revocation broadcast delivered)');
      await new Promise((r) => setTimeout(r, 50));
    }

    // consent-ui asks token-service to end the owner's grants with the client.
    const revoked = await system.nc.request(Subjects.consentRevoke, JSON.stringify({ sub: user.sub, client_id: client.clientId }), { timeout: 5000 });
    assert.equal(revoked.headers?.get('Nats-Service-Error') ?? undefined, undefined);
    assert.equal(typeof revoked.json<{ revoked_families: number }>().revoked_families, 'number');
  });

  it('lets token-service (alone) hand authorize-service a pushed authorization request: POST /par answers 201 (RFC 9126)', async () => {
    const form = new URLSearchParams({ response_type: 'code', redirect_uri: client.redirectUri, scope });
    const basic = Buffer.from(`${encodeURIComponent(client.clientId)}:${encodeURIComponent(client.clientSecret!)}`).toString('base64');
    const res = await fetch(`${system.urls.tokenService}/par`, {
      method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${basic}` }, body: form,
    });
    const body = (await res.json()) as { request_uri?: string; error?: string };
    assert.equal(res.status, 201, JSON.stringify(body));
    assert.match(body.request_uri!, /^urn:ietf:params:oauth:request_uri:/);
    // Nobody else may publish it: authorize-service trusts its client_id as authenticated by token-service.
    const push = { client_id: client.clientId, params: { response_type: 'code', redirect_uri: client.redirectUri, scope } };
    for (const user of ['consent-ui', 'validation-service', 'resource-server', 'admin-cli', 'auditor', 'authorize-service'] as const) {
      await refusesRequest(await connectAs(user), Subjects.authorizationPush, push);
    }
  });

  it('lets the admin CLI (as admin-cli) announce a change, publish its audit event with an ack, and ask $SRV who runs', async () => {
    const warnings: string[] = [];
    const name = `perm.${randomToken(4).replace(/[^a-z0-9]/gi, 'x')}`;
    const env = { NODE_ENV: 'test', NATS_URL: nats.url, NATS_USER: 'admin-cli', NATS_PASSWORD: passwords['admin-cli'], MONGODB_URI: system.env.MONGODB_URI! };
    const status = await adminMain(['scopes', 'create', name, '--description', 'Made as admin-cli'], env, { out: () => undefined, warn: (m) => void warnings.push(m) });
    assert.equal(status, 0);
    assert.deepEqual(warnings, [], 'no warning: NATS took the announcement and acked the audit event');
    const outboxed = (await system.db.collection('audit_outbox').find().toArray()).filter((doc) => (JSON.parse(doc.payload as string) as { subject: string }).subject === name);
    assert.equal(outboxed.length, 0, 'the audit event went to the stream, not the outbox');

    const names = new Set<string>();
    for await (const msg of await admin.requestMany('$SRV.INFO', '', { maxWait: 2000 })) names.add(msg.json<{ name: string }>().name);
    assert.deepEqual([...names].sort(), [...ServiceNames].sort(), 'every service answers $SRV.INFO under its own user');
  });

  it('lets the admin CLI (as admin-cli) broadcast the revocation that ends a user\'s access: their token turns inactive at once, no warning', async () => {
    const resourceServer = await connectAs('resource-server');
    const owner = await seed.user();
    const { code, verifier } = await codeViaNats(system, client, owner);
    const tokens = await exchangeCode(system, client, code, verifier);
    assert.equal((await validateAs(resourceServer, tokens.body.access_token as string)).active, true);
    const warnings: string[] = [];
    const env = { NODE_ENV: 'test', NATS_URL: nats.url, NATS_USER: 'admin-cli', NATS_PASSWORD: passwords['admin-cli'], MONGODB_URI: system.env.MONGODB_URI! };
    // The command broadcasts the revocation, waits 2 s and broadcasts it again before it returns:
    // the token must be inactive while it waits, which only the first broadcast can have done.
    let returned = false;
    const command = adminMain(['users', 'disable', owner.username], env, { out: () => undefined, warn: (m) => void warnings.push(m) })
      .finally(() => { returned = true; });
    const started = Date.now();
    while ((await validateAs(resourceServer, tokens.body.access_token as string)).active) {
      assert.ok(!returned, 'inactive before the command\'s second broadcast (the first one was delivered)');
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.ok(!returned, `inactive while the command waited to broadcast again (after ${Date.now() - started} ms)`);
    assert.equal(await command, 0);
    assert.deepEqual(warnings, []);
  });

  it('lets the admin CLI follow the audit stream (audit tail) as admin-cli', async () => {
    const env = { NODE_ENV: 'test', NATS_URL: nats.url, NATS_USER: 'admin-cli', NATS_PASSWORD: passwords['admin-cli'], MONGODB_URI: system.env.MONGODB_URI! };
    const tail = spawnNode(['bin/oauth-admin.js', 'audit', 'tail', '--type', 'oauth.scope.created'], env);
    try {
      const until = async (condition: () => boolean, what: string) => {
        const deadline = Date.now() + 15_000;
        while (!condition()) {
          assert.ok(Date.now() < deadline, `${what}; output: ${tail.output()}`);
          await new Promise((r) => setTimeout(r, 50));
        }
      };
      await until(() => tail.output().includes('following'), 'audit tail starts following');
      const name = `tail.${randomToken(4).replace(/[^a-z0-9]/gi, 'x')}`;
      assert.equal(await adminMain(['scopes', 'create', name, '--description', 'Tailed'], env, { out: () => undefined, warn: () => undefined }), 0);
      await until(() => tail.output().includes(`"${name}"`), 'the event is printed');
      tail.child.kill('SIGINT');
      assert.equal((await tail.exited).code, 0);
    } finally {
      tail.child.kill('SIGKILL');
    }
  });

  it('lets an auditor read OAUTH_AUDIT with a consumer of its own', async () => {
    const auditor = await connectAs('auditor');
    const js = jetstream(auditor);
    const consumer = await js.consumers.get(AUDIT_STREAM, { deliver_policy: DeliverPolicy.All });
    const messages = await consumer.consume();
    const timer = setTimeout(() => void messages.close(), 5000);
    const types = new Set<string>();
    for await (const msg of messages) {
      const event = msg.json<CloudEvent>();
      if (event.data.client_id === client.clientId) types.add(event.type);
      if (types.has('oauth.token.issued')) break;
    }
    clearTimeout(timer);
    void messages.close();
    assert.ok(types.has('oauth.token.issued'), `the auditor read the flow's events (saw ${[...types].join(', ') || 'none'})`);
    assert.deepEqual(serverErrors.get(auditor), []);
  });

  it('refuses a resource server everything but asking oauth.token.validate', async () => {
    const rs = await connectAs('resource-server');
    await refusesRequest(rs, Subjects.authorizationDecide, { handle: 'x', decision: 'approve', sub: 'u', username: 'u', auth_time: 0 });
    await refusesRequest(rs, Subjects.authorizationDescribe);
    await refusesRequest(rs, Subjects.consentRevoke, { sub: user.sub, client_id: client.clientId });
    await refusesSubscription(rs, Subjects.tokenValidate, 'q');
    await refusesSubscription(rs, Subjects.tokenValidate);
    await refusesPublish(rs, 'oauth.audit.token.issued');
    await refusesPublish(rs, Subjects.revocationRecorded);
    await refusesPublish(rs, Subjects.referenceDataChanged);
    // No reading of other users' replies or of the broadcasts.
    await refusesSubscription(rs, '_INBOX.>');
    await refusesSubscription(rs, '_INBOX.consent-ui.>');
    await refusesSubscription(rs, Subjects.revocationRecorded);
    await refusesSubscription(rs, '>');
    await refusesRequest(rs, `$JS.API.STREAM.INFO.${AUDIT_STREAM}`);
  });

  // Security finding 3: validation-service answered whatever reply subject a resource server
  // named (allow_responses), e.g. non-CloudEvents junk into the audit stream or onto a broadcast subject.
  it('finding 3: a resource server cannot make validation-service publish outside an inbox', async () => {
    const rs = await connectAs('resource-server');
    const auditSubjectForged = `oauth.audit.token.forged${randomToken(6).replace(/[^a-z0-9]/gi, 'x')}`;
    const broadcasts: string[] = [];
    const watch = system.nc.subscribe(Subjects.referenceDataChanged, { callback: (_e, msg) => void broadcasts.push(msg.string()) });
    await system.nc.flush();
    const logsBefore = serviceLogs.length;
    rs.publish(Subjects.tokenValidate, validateBody('x'), { reply: auditSubjectForged });
    rs.publish(Subjects.tokenValidate, validateBody('x'), { reply: Subjects.referenceDataChanged });
    await rs.flush();
    const ignored = () => serviceLogs.slice(logsBefore).filter((l) => l.includes('reply subject is not an inbox')).length;
    const deadline = Date.now() + 3000;
    while (ignored() < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    await new Promise((r) => setTimeout(r, 300));
    watch.unsubscribe();
    assert.deepEqual(broadcasts.filter((b) => b.includes('active')), [], 'no answer on the broadcast subject');
    // Nothing reached the audit stream under the forged subject.
    const auditor = await connectAs('auditor');
    const got = (await auditor.request(`$JS.API.STREAM.MSG.GET.${AUDIT_STREAM}`, JSON.stringify({ last_by_subj: auditSubjectForged }), { timeout: 3000 }))
      .json<{ error?: { code: number }; message?: unknown }>();
    assert.equal(got.error?.code, 404, `no message under ${auditSubjectForged}: ${JSON.stringify(got)}`);
    assert.equal(ignored(), 2, 'validation-service ignored both, and said so');
    // And the server itself refuses validation-service an answer outside an inbox (no allow_responses).
    const probe = await connectAs('validation-service');
    const marker = randomToken(8);
    const forgedReply = `oauth.audit.token.probe${marker.replace(/[^a-z0-9]/gi, 'x')}`;
    const sub = probe.subscribe(Subjects.tokenValidate, { queue: `probe-${marker}`, callback: (_e, msg) => {
      if (msg.string().includes(marker)) msg.respond('{"active":true}');
    } });
    await probe.flush();
    rs.publish(Subjects.tokenValidate, validateBody(marker), { reply: forgedReply });
    const until = Date.now() + 3000;
    while (!serverErrors.get(probe)!.some(isViolation('publish', forgedReply))) {
      assert.ok(Date.now() < until, `the server refuses the answer to ${forgedReply} (saw: ${serverErrors.get(probe)!.map((e) => e.message).join('; ') || 'none'})`);
      await new Promise((r) => setTimeout(r, 20));
    }
    sub.unsubscribe();
  });

  it('refuses a resource server that does not use its own inbox', async () => {
    const rs = await connectAs('resource-server', 'someone-else');
    // The reply inbox cannot be subscribed, so the request cannot even be made (and validation-service's
    // answer into that inbox, not the resource servers' own, is refused by the server too).
    await assert.rejects(rs.request(Subjects.tokenValidate, validateBody('x'), { timeout: 3000 }),
      (error: Error) => (error.cause as PermissionViolationError | undefined)?.operation === 'subscription' && /^_INBOX\.someone-else\./.test((error.cause as PermissionViolationError).subject));
  });

  it('refuses an auditor any publish, any request but reading OAUTH_AUDIT, and any stream management', async () => {
    const auditor = await connectAs('auditor');
    await refusesPublish(auditor, 'oauth.audit.token.issued');
    await refusesPublish(auditor, 'oauth.audit.x');
    await refusesRequest(auditor, Subjects.tokenValidate, { token: 'x' });
    await refusesRequest(auditor, Subjects.authorizationDecide);
    await refusesRequest(auditor, `$JS.API.STREAM.DELETE.${AUDIT_STREAM}`);
    await refusesRequest(auditor, `$JS.API.STREAM.PURGE.${AUDIT_STREAM}`);
    await refusesRequest(auditor, `$JS.API.STREAM.UPDATE.${AUDIT_STREAM}`);
    await refusesRequest(auditor, `$JS.API.STREAM.MSG.DELETE.${AUDIT_STREAM}`);
    await refusesRequest(auditor, '$JS.API.STREAM.CREATE.OTHER');
    await refusesRequest(auditor, '$JS.API.STREAM.LIST');
    await refusesRequest(auditor, '$JS.API.CONSUMER.CREATE.OTHER');
    await refusesSubscription(auditor, 'oauth.audit.>');
    await refusesSubscription(auditor, Subjects.tokenValidate);
    await refusesSubscription(auditor, '_INBOX.>');
  });

  it('lets no one but the owning service answer an internal subject', async () => {
    const consentUi = await connectAs('consent-ui');
    await refusesSubscription(consentUi, Subjects.authorizationDecide, 'q');
    await refusesSubscription(consentUi, Subjects.authorizationDescribe);
    await refusesSubscription(consentUi, Subjects.tokenValidate, 'q');
    await refusesSubscription(consentUi, Subjects.consentRevoke, 'q');
    const token = await connectAs('token-service');
    await refusesSubscription(token, Subjects.authorizationDecide, 'q');
    await refusesSubscription(token, Subjects.tokenValidate, 'q');
    // token-service asks oauth.authorization.push; only authorize-service answers it.
    await refusesSubscription(token, Subjects.authorizationPush, 'q');
    await refusesSubscription(consentUi, Subjects.authorizationPush, 'q');
    const validation = await connectAs('validation-service');
    await refusesSubscription(validation, Subjects.consentRevoke, 'q');
    await refusesSubscription(validation, Subjects.authorizationDescribe, 'q');
    await refusesSubscription(validation, Subjects.authorizationPush, 'q');
    const authorize = await connectAs('authorize-service');
    await refusesSubscription(authorize, Subjects.tokenValidate, 'q');
    await refusesSubscription(authorize, Subjects.consentRevoke, 'q');
    const cli = await connectAs('admin-cli');
    await refusesSubscription(cli, Subjects.tokenValidate, 'q');
    await refusesSubscription(cli, Subjects.authorizationDecide, 'q');
    // Nor answer $SRV discovery as another service.
    await refusesSubscription(consentUi, '$SRV.INFO.token-service');
    await refusesSubscription(authorize, '$SRV.PING.validation-service.x');
  });

  it('lets a service publish only its own events and ask only what it asks', async () => {
    const consentUi = await connectAs('consent-ui');
    await refusesPublish(consentUi, Subjects.revocationRecorded);
    await refusesPublish(consentUi, Subjects.referenceDataChanged);
    await refusesRequest(consentUi, Subjects.tokenValidate, { token: 'x' });
    const authorize = await connectAs('authorize-service');
    await refusesPublish(authorize, Subjects.revocationRecorded);
    await refusesPublish(authorize, Subjects.referenceDataChanged);
    await refusesRequest(authorize, Subjects.consentRevoke, { sub: user.sub, client_id: client.clientId });
    const validation = await connectAs('validation-service');
    await refusesPublish(validation, Subjects.revocationRecorded);
    await refusesPublish(validation, Subjects.referenceDataChanged);
    await refusesRequest(validation, Subjects.authorizationDecide);
    // validation-service emits no audit event and relays no outbox (finding 3): no audit rights at all.
    await refusesPublish(validation, 'oauth.audit.token.issued');
    await refusesRequest(validation, `$JS.API.STREAM.CREATE.${AUDIT_STREAM}`);
    // Answers go only into the inboxes of those who ask: no other service's inbox.
    await refusesPublish(validation, '_INBOX.consent-ui.x');
    await refusesPublish(authorize, '_INBOX.resource-server.x');
    const token = await connectAs('token-service');
    await refusesRequest(token, Subjects.authorizationDecide);
    await refusesRequest(token, Subjects.tokenValidate, { token: 'x' });
    const cli = await connectAs('admin-cli');
    // The CLI broadcasts revocations (ending access), but asks nothing of the services.
    await refusesRequest(cli, Subjects.tokenValidate, { token: 'x' });
    // No stream management beyond the audit stream's, no other inboxes.
    await refusesRequest(authorize, `$JS.API.STREAM.DELETE.${AUDIT_STREAM}`);
    await refusesRequest(authorize, `$JS.API.STREAM.PURGE.${AUDIT_STREAM}`);
    await refusesRequest(cli, `$JS.API.STREAM.DELETE.${AUDIT_STREAM}`);
    await refusesRequest(cli, `$JS.API.STREAM.PURGE.${AUDIT_STREAM}`);
    await refusesSubscription(token, '_INBOX.consent-ui.>');
    await refusesSubscription(cli, '_INBOX.>');
  });

  it('ran every service without a single server error: no permission the system needs is missing', async () => {
    // Services log every NATS error status (shared/nats/connect.ts); the test's own connections record theirs.
    // Except the one answer the server refused on purpose: validation-service's reply into the inbox a
    // resource server named but may not read ("refuses a resource server that does not use its own inbox").
    const errorLines = serviceLogs.filter((line) => line.includes('"nats":"error"') && !/Permissions Violation for Publish to \\"_INBOX\.someone-else\./.test(line));
    assert.deepEqual(errorLines, [], 'no service connection got an error from the server');
    assert.deepEqual(serverErrors.get(system.nc), [], 'consent-ui stand-in');
    assert.deepEqual(serverErrors.get(admin), [], 'admin-cli');
    assert.equal(await system.db.collection('audit_outbox').countDocuments(), 0, 'every audit event was acked by JetStream');
  });
});
