// The admin CLI as operators run it: the real `bin/oauth-admin.js` process on Node 24, against
// real NATS and a database of this file's own. Asserts what it prints, what it stores, and the
// audit events it publishes.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { MongoClient, type Db } from 'mongodb';
import { connect } from '@nats-io/transport-node';
import type { NatsConnection } from '@nats-io/nats-core';
import { jetstream, DeliverPolicy } from '@nats-io/jetstream';
import { randomIdentifier, randomToken, sha256 } from '#shared/crypto.ts';
import { ensureAuditStream } from '#shared/audit/audit-stream.ts';
import { AUDIT_STREAM, Subjects } from '#shared/nats/subjects.ts';
import { decrypt, keyEncryptionKey } from '#shared/keys/key-encryption.ts';
import { generateSigningKey } from '#shared/keys/rotate-signing-key.ts';
import { CommonConfigSchema, parseConfig } from '#shared/config.ts';
import type { CloudEvent } from '#shared/audit/cloud-event.ts';
import { createClient, createScope, createUser } from '../services/admin-cli/reference-data-admin.ts';
import { freePort, NATS_URL, uniqueMongoUri } from './helpers/system.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const NODE24 = path.join(ROOT, 'node_modules/.bin/node');
const BIN = path.join(ROOT, 'bin/oauth-admin.js');
const MONGODB_URI = uniqueMongoUri('admincli');

/** `ms`: how long the process ran (from spawn to exit, not counting the wait for a slot). */
type Result = { code: number | null; stdout: string; stderr: string; ms: number };

function baseEnv(overrides: Record<string, string> = {}): Record<string, string> {
  return { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', NODE_ENV: 'test', NATS_URL, MONGODB_URI, ...overrides };
}

type Started = { child: ChildProcess; stdout: () => string; stderr: () => string; exited: Promise<number | null> };

function start(args: string[], options: { env?: Record<string, string>; node?: string } = {}): Started {
  const child = spawn(options.node ?? NODE24, [BIN, ...args], { cwd: ROOT, env: baseEnv(options.env), stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
  return { child, stdout: () => stdout, stderr: () => stderr, exited };
}

/**
 * At most this many CLI processes at once: the tests run concurrently, and dozens of Node processes
 * starting together on a 2-core machine each take longer than the deadline below.
 */
const MAX_RUNNING = 4;
let running = 0;
const waiting: (() => void)[] = [];
async function slot(): Promise<() => void> {
  if (running >= MAX_RUNNING) await new Promise<void>((resolve) => waiting.push(resolve));
  running += 1;
  return () => {
    running -= 1;
    waiting.shift()?.();
  };
}

/** Runs `oauth-admin args…` to the end, with `stdin` piped in (empty when not given). */
async function cli(args: string[], options: { stdin?: string; env?: Record<string, string>; node?: string } = {}): Promise<Result> {
  const release = await slot();
  try {
    const spawnedAt = Date.now();
    const run = start(args, options);
    run.child.stdin!.end(options.stdin ?? '');
    const timer = setTimeout(() => run.child.kill('SIGKILL'), 20_000);
    const code = await run.exited;
    clearTimeout(timer);
    return { code, stdout: run.stdout(), stderr: run.stderr(), ms: Date.now() - spawnedAt };
  } finally {
    release();
  }
}

async function ok(args: string[], options: { stdin?: string; env?: Record<string, string> } = {}): Promise<Result> {
  const result = await cli(args, options);
  assert.equal(result.code, 0, `oauth-admin ${args.join(' ')} failed: ${result.stderr}`);
  assert.equal(result.stderr, '', 'nothing on stderr');
  return result;
}

const json = <T>(result: Result): T => JSON.parse(result.stdout) as T;
const lines = (text: string) => text.split('\n').filter((l) => l !== '');
const unique = (prefix: string) => `${prefix}.${randomToken(6).replace(/[^a-z0-9]/gi, 'x')}`;

let mongo: MongoClient;
let db: Db;
let nc: NatsConnection;

before(async () => {
  mongo = await MongoClient.connect(MONGODB_URI);
  db = mongo.db();
  nc = await connect({ servers: NATS_URL, name: 'test-admin-cli' });
  await ensureAuditStream(nc, 1);
});
after(async () => {
  await nc.close();
  await mongo.close();
});

/** An ordered consumer on OAUTH_AUDIT delivering only events published from now on. */
async function auditEventsFrom(filter: string) {
  const consumer = await jetstream(nc).consumers.get(AUDIT_STREAM, { filter_subjects: filter, deliver_policy: DeliverPolicy.New });
  const messages = await consumer.consume();
  const iterator = messages[Symbol.asyncIterator]();
  return {
    /** The next `count` events whose CloudEvents subject is `subject`, within `timeoutMs`. */
    async next(subject: string, count: number, timeoutMs = 10_000): Promise<CloudEvent[]> {
      const found: CloudEvent[] = [];
      const deadline = Date.now() + timeoutMs;
      while (found.length < count) {
        let timer: NodeJS.Timeout | undefined;
        const timeout = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), Math.max(0, deadline - Date.now()))));
        const next = await Promise.race([iterator.next(), timeout]);
        clearTimeout(timer);
        if (next === 'timeout' || next.done) break;
        const event = next.value.json<CloudEvent>();
        if (event.subject === subject) found.push(event);
      }
      return found;
    },
    // Not awaited: closing waits for the consumer's outstanding pull to expire.
    close: () => void messages.close(),
  };
}

describe('oauth-admin', { concurrency: true }, () => {
  it('scopes: create, list, show and delete round trip', async () => {
    const name = unique('photos');
    const created = await ok(['scopes', 'create', name, '--description', 'See your photos']);
    assert.match(created.stdout, new RegExp(name.replace('.', '\\.')));
    assert.deepEqual(await db.collection('scopes').findOne({ _id: name as never }, { projection: { _id: 1, description: 1 } }), { _id: name, description: 'See your photos' });

    const listed = json<{ name: string; description: string }[]>(await ok(['scopes', 'list', '--json']));
    assert.deepEqual(listed.find((s) => s.name === name)?.description, 'See your photos');
    assert.match((await ok(['scopes', 'list'])).stdout, new RegExp(`^${name.replace('.', '\\.')}\\s+See your photos$`, 'm'));
    const shown = json<{ name: string; used_by: { clients: string[]; resources: string[]; resource_servers: string[] } }>(await ok(['scopes', 'show', name, '--json']));
    assert.deepEqual(shown.used_by, { clients: [], resources: [], resource_servers: [] });

    await ok(['scopes', 'delete', name]);
    assert.equal(await db.collection('scopes').countDocuments({ _id: name as never }), 0);
    assert.ok(!json<{ name: string }[]>(await ok(['scopes', 'list', '--json'])).some((s) => s.name === name));
    const again = await cli(['scopes', 'show', name]);
    assert.equal(again.code, 1);
    assert.equal(lines(again.stderr).length, 1);
  });

  it('users: the password comes from stdin, is stored only as argon2id, and is never shown', async () => {
    const username = `alice_${randomToken(6).replace(/[^a-z0-9]/gi, 'x')}`;
    const password = `correct horse ${randomToken(9)}`;
    const outputs: Result[] = [];
    outputs.push(await ok(['users', 'create', username, '--password-stdin', '--group', 'staff', '--group', 'ops', '--json'], { stdin: `${password}\n` }));
    const { sub } = json<{ sub: string }>(outputs[0]!);

    const doc = await db.collection('users').findOne({ username });
    assert.ok(doc);
    assert.equal(doc._id, sub);
    assert.deepEqual(doc.groups, ['staff', 'ops']);
    // OWASP minimum for argon2id is m=19456 (19 MiB), t=2, p=1; stronger is fine.
    const params = /^\$argon2id\$v=19\$m=(\d+),t=(\d+),p=(\d+)\$/.exec(doc.passwordHash as string);
    assert.ok(params, 'argon2id hash');
    assert.ok(Number(params[1]) >= 19_456 && Number(params[2]) >= 2 && Number(params[3]) >= 1, doc.passwordHash as string);
    assert.ok(!JSON.stringify(doc).includes(password), 'the password is nowhere in the stored document');
    assert.ok(!JSON.stringify(doc).includes(password.trim()));

    outputs.push(await ok(['users', 'list', '--json']), await ok(['users', 'list']), await ok(['users', 'show', username, '--json']), await ok(['users', 'show', username]));
    const shown = json<Record<string, unknown>>(outputs[3]!);
    assert.deepEqual(shown, { sub, username, groups: ['staff', 'ops'], disabled: false, created_at: (doc.createdAt as Date).toISOString() });
    assert.ok(json<{ username: string }[]>(outputs[1]!).some((u) => u.username === username));

    outputs.push(await ok(['users', 'delete', username]));
    assert.equal(await db.collection('users').countDocuments({ username }), 0);
    for (const output of outputs) {
      for (const text of [output.stdout, output.stderr]) {
        assert.ok(!text.includes(password), 'the password is never printed');
        assert.ok(!text.includes('$argon2'), 'no hash is ever printed');
      }
    }
  });

  it('resources: create, list, show and delete round trip', async () => {
    const scope = unique('files');
    await ok(['scopes', 'create', scope, '--description', 'Read your files']);
    const pattern = `https://api.example.com/${randomToken(6)}/*`;
    await ok(['resources', 'create', pattern, '--scope', scope, '--group', 'staff']);
    assert.deepEqual(await db.collection('resources').findOne({ _id: pattern as never }, { projection: { _id: 0, scopes: 1, groups: 1 } }), { scopes: [scope], groups: ['staff'] });

    const listed = json<{ pattern: string; scopes: string[]; groups: string[]; created_at: string }[]>(await ok(['resources', 'list', '--json']));
    const { created_at: _createdAt, ...rule } = listed.find((r) => r.pattern === pattern) ?? {};
    assert.deepEqual(rule, { pattern, scopes: [scope], groups: ['staff'] });
    assert.equal(json<{ pattern: string }>(await ok(['resources', 'show', pattern, '--json'])).pattern, pattern);

    // The scope is in use: deleting it is refused with one line, and nothing changes.
    const refused = await cli(['scopes', 'delete', scope]);
    assert.equal(refused.code, 1);
    assert.equal(lines(refused.stderr).length, 1);
    assert.match(refused.stderr, /still used by resource rule/);
    assert.equal(await db.collection('scopes').countDocuments({ _id: scope as never }), 1);

    await ok(['resources', 'delete', pattern]);
    assert.equal(await db.collection('resources').countDocuments({ _id: pattern as never }), 0);
    await ok(['scopes', 'delete', scope]);
  });

  it('resource-servers: create, list, show and delete round trip, announced and audited', async () => {
    const scope = unique('orders');
    await ok(['scopes', 'create', scope, '--description', 'Read your orders']);
    const uri = `https://api-${randomToken(6).replace(/[^a-z0-9]/gi, 'x').toLowerCase()}.example.com/`;
    const events = await auditEventsFrom('oauth.audit.resource_server.>');
    const announced = nc.subscribe(Subjects.referenceDataChanged);
    try {
      assert.deepEqual(json(await ok(['resource-servers', 'create', uri, '--scope', scope, '--scope', scope, '--json'])), { uri, scopes: [scope] });
      assert.deepEqual(await db.collection('resource_servers').findOne({ _id: uri as never }, { projection: { _id: 0, scopes: 1 } }), { scopes: [scope] });
      const [created] = await events.next(uri, 1);
      assert.equal(created?.type, 'oauth.resource_server.created');
      assert.equal(created?.data.scope, scope);
      let kinds: string[] = [];
      for await (const msg of announced) {
        kinds = [...kinds, msg.json<{ kind: string }>().kind];
        if (kinds.includes('resource_servers')) break;
      }

      const listed = json<{ uri: string; scopes: string[]; created_at: string }[]>(await ok(['resource-servers', 'list', '--json']));
      assert.deepEqual(listed.find((r) => r.uri === uri)?.scopes, [scope]);
      assert.equal(json<{ uri: string }>(await ok(['resource-servers', 'show', uri, '--json'])).uri, uri);
      assert.match((await ok(['resource-servers', 'show', uri])).stdout, new RegExp(scope.replace('.', '\\.')));

      const inUse = await cli(['scopes', 'delete', scope]);
      assert.equal(inUse.code, 1);
      assert.match(inUse.stderr, /still used by resource server/);
      assert.deepEqual(json<{ used_by: { resource_servers: string[] } }>(await ok(['scopes', 'show', scope, '--json'])).used_by.resource_servers, [uri], 'scopes show names it');

      await ok(['resource-servers', 'delete', uri]);
      assert.equal(await db.collection('resource_servers').countDocuments({ _id: uri as never }), 0);
      assert.equal((await events.next(uri, 1))[0]?.type, 'oauth.resource_server.deleted');
      const gone = await cli(['resource-servers', 'show', uri]);
      assert.equal(gone.code, 1);
      assert.equal(lines(gone.stderr).length, 1);
    } finally {
      announced.unsubscribe();
      events.close();
    }
  });

  it('clients create --require-par and --require-dpop are stored (the fields token-service and authorize-service read) and shown', async () => {
    const scope = unique('photos');
    await ok(['scopes', 'create', scope, '--description', 'See your photos']);
    const create = (...flags: string[]) => ok([
      'clients', 'create', '--name', 'PAR app', '--type', 'public', '--redirect-uri', 'https://app.example.com/cb', '--scope', scope, ...flags, '--json',
    ]);
    for (const [flags, requirePar, requireDpop] of [[['--require-par'], true, false], [['--require-dpop'], false, true], [[], false, false]] as const) {
      const { client_id: clientId } = json<{ client_id: string }>(await create(...flags));
      const doc = await db.collection('clients').findOne({ _id: clientId as never });
      assert.equal(doc?.requirePar === true, requirePar, flags.join(' '));
      assert.equal(doc?.requireDpop === true, requireDpop, flags.join(' '));
      const shown = json<{ require_par: boolean; require_dpop: boolean }>(await ok(['clients', 'show', clientId, '--json']));
      assert.deepEqual([shown.require_par, shown.require_dpop], [requirePar, requireDpop], flags.join(' '));
    }
  });

  it('clients: --json prints the secret once, only its SHA-256 is stored, rotate-secret replaces it, delete removes the client', async () => {
    const scope = unique('photos');
    await ok(['scopes', 'create', scope, '--description', 'See your photos']);
    const created = json<{ client_id: string; client_secret: string }>(await ok([
      'clients', 'create', '--name', 'Photo app', '--type', 'confidential', '--redirect-uri', 'https://app.example.com/cb',
      '--redirect-uri', 'com.example.app:/cb', '--scope', scope, '--refresh-tokens', '--access-token-ttl', '900', '--json',
    ]));
    assert.deepEqual(Object.keys(created).sort(), ['client_id', 'client_secret']);
    const doc = await db.collection('clients').findOne({ _id: created.client_id as never });
    assert.ok(doc);
    assert.equal(doc.secretHash, sha256(created.client_secret));
    assert.ok(!JSON.stringify(doc).includes(created.client_secret), 'no plain secret stored');
    assert.deepEqual([doc.type, doc.redirectUris, doc.scopes, doc.grantTypes, doc.accessTokenTtlSeconds],
      ['confidential', ['https://app.example.com/cb', 'com.example.app:/cb'], [scope], ['authorization_code', 'refresh_token'], 900]);

    const outputs = await Promise.all([ok(['clients', 'list', '--json']), ok(['clients', 'list']), ok(['clients', 'show', created.client_id, '--json']), ok(['clients', 'show', created.client_id])]);
    const shown = json<Record<string, unknown>>(outputs[2]);
    assert.equal(shown.client_id, created.client_id);
    assert.equal(shown.refresh_tokens, true);
    assert.ok(json<{ client_id: string }[]>(outputs[0]).some((c) => c.client_id === created.client_id));
    for (const output of outputs) {
      assert.ok(!output.stdout.includes(created.client_secret) && !output.stdout.includes(doc.secretHash as string), 'list/show never print the secret or its hash');
      assert.ok(!/secret/i.test(output.stdout));
    }

    const rotated = json<{ client_id: string; client_secret: string }>(await ok(['clients', 'rotate-secret', created.client_id, '--json']));
    assert.notEqual(rotated.client_secret, created.client_secret);
    const after = await db.collection('clients').findOne({ _id: created.client_id as never });
    assert.equal(after?.secretHash, sha256(rotated.client_secret));

    await ok(['clients', 'delete', created.client_id]);
    assert.equal(await db.collection('clients').countDocuments({ _id: created.client_id as never }), 0);
    await ok(['scopes', 'delete', scope]);
  });

  it('clients: a public client gets no secret; without --json the secret is shown in a block that says it is shown only once', async () => {
    const scope = unique('read');
    await ok(['scopes', 'create', scope, '--description', 'Read']);
    const [publicClient, confidential] = await Promise.all([
      ok(['clients', 'create', '--name', 'CLI', '--type', 'public', '--redirect-uri', 'http://127.0.0.1:8765/cb', '--scope', scope, '--json']),
      ok(['clients', 'create', '--name', 'Web', '--type', 'confidential', '--redirect-uri', 'https://web.example.com/cb', '--scope', scope]),
    ]);
    const { client_id: publicId, ...rest } = json<{ client_id: string }>(publicClient);
    assert.deepEqual(rest, {});
    assert.equal((await db.collection('clients').findOne({ _id: publicId as never }))?.secretHash, undefined);

    assert.match(confidential.stdout, /shown only once/);
    const clientId = /client_id:\s+(\S+)/.exec(confidential.stdout)?.[1];
    const secret = /client_secret:\s+(\S+)/.exec(confidential.stdout)?.[1];
    assert.ok(clientId && secret);
    assert.equal((await db.collection('clients').findOne({ _id: clientId as never }))?.secretHash, sha256(secret));
  });

  it('bad input: one line on stderr, exit 2 for usage or 1 for refusal, and nothing changes', async () => {
    // A database of its own, so concurrent tests cannot move the counts.
    const env = { MONGODB_URI: uniqueMongoUri('admincli_bad') };
    const own = mongo.db(new URL(env.MONGODB_URI).pathname.slice(1));
    await createScope(own, 'known', 'A known scope');
    await createUser(own, { username: 'taken', password: 'a password of the first user', groups: [] });
    const client = (extra: string[], type = 'confidential') =>
      ['clients', 'create', '--name', 'X', '--type', type, '--redirect-uri', 'https://x.example.com/cb', '--scope', 'known', ...extra];
    const password = `hunter-${randomToken(8)}`;
    const cases: [string, string[], number, string?][] = [
      ['an unknown scope on a client', ['clients', 'create', '--name', 'X', '--type', 'public', '--redirect-uri', 'https://x.example.com/cb', '--scope', 'nope'], 1],
      ['a duplicate username', ['users', 'create', 'taken', '--password-stdin'], 1, 'another password 123'],
      ['a malformed redirect URI', ['clients', 'create', '--name', 'X', '--type', 'public', '--redirect-uri', 'not a uri', '--scope', 'known'], 1],
      ['a redirect URI with a fragment', ['clients', 'create', '--name', 'X', '--type', 'public', '--redirect-uri', 'https://x.example.com/cb#f', '--scope', 'known'], 1],
      ['plain http to a non-loopback host', ['clients', 'create', '--name', 'X', '--type', 'public', '--redirect-uri', 'http://x.example.com/cb', '--scope', 'known'], 1],
      ['an out-of-range ttl', client(['--access-token-ttl', '5']), 1],
      ['a duplicate scope', ['scopes', 'create', 'known', '--description', 'again'], 1],
      ['a resource rule naming an unknown scope', ['resources', 'create', '/x', '--scope', 'nope'], 1],
      ['a missing scope name', ['scopes', 'create', '--description', 'd'], 2],
      ['a missing --description', ['scopes', 'create', 'new.scope'], 2],
      ['a missing --name', ['clients', 'create', '--type', 'public', '--redirect-uri', 'https://x.example.com/cb', '--scope', 'known'], 2],
      ['a missing --redirect-uri', ['clients', 'create', '--name', 'X', '--type', 'public', '--scope', 'known'], 2],
      ['a missing option value', ['clients', 'create', '--name'], 2],
      ['a resource rule without --scope', ['resources', 'create', '/x'], 2],
      ['a relative resource server URI', ['resource-servers', 'create', '/api', '--scope', 'known'], 1],
      ['a resource server URI with a fragment', ['resource-servers', 'create', 'https://api.example.com/#f', '--scope', 'known'], 1],
      ['a resource server naming an unknown scope', ['resource-servers', 'create', 'https://api.example.com/', '--scope', 'nope'], 1],
      ['a resource server without --scope', ['resource-servers', 'create', 'https://api.example.com/'], 2],
      ['an unknown command', ['frobnicate'], 2],
      ['an unknown subcommand', ['clients', 'frobnicate'], 2],
      ['no command at all', [], 2],
      ['an unknown option', ['scopes', 'create', 'x.y', '--description', 'd', '--colour', 'red'], 2],
      ['a bad --type', client([], 'secret'), 2],
      ['a non-numeric ttl', client(['--access-token-ttl', '10m']), 2],
      ['a non-numeric refresh ttl', client(['--refresh-token-ttl', '1e5']), 2],
      ['a password on the command line', ['users', 'create', 'bob', `--password=${password}`], 2],
      ['a password as an extra argument', ['users', 'create', 'bob', password, '--password-stdin'], 2],
      ['users create without --password-stdin', ['users', 'create', 'bob'], 2],
      ['an empty password on stdin', ['users', 'create', 'bob', '--password-stdin'], 1, '\n'],
      ['too short a password', ['users', 'create', 'bob', '--password-stdin'], 1, 'short\n'],
      ['a bad audit --since', ['audit', 'tail', '--since', 'yesterday'], 2],
    ];
    const collections = ['clients', 'users', 'scopes', 'resources', 'resource_servers', 'audit_outbox'];
    const count = () => Promise.all(collections.map((c) => own.collection(c).countDocuments()));
    const before = await count();
    const results = await Promise.all(cases.map(([, args, , stdin]) => cli(args, { env, ...(stdin !== undefined ? { stdin } : {}) })));
    results.forEach((result, i) => {
      const [name, args, code] = cases[i]!;
      const what = `${name} (oauth-admin ${args.join(' ')})`;
      assert.equal(result.code, code, `${what}: exit ${result.code}, stderr ${result.stderr}`);
      assert.equal(lines(result.stderr).length, 1, `${what}: one stderr line, got ${JSON.stringify(result.stderr)}`);
      assert.match(result.stderr, /^oauth-admin: \S/, what);
      assert.equal(result.stdout, '', `${what}: nothing on stdout`);
      assert.ok(!result.stderr.includes(password), `${what}: the password is not echoed`);
    });
    assert.deepEqual(await count(), before, 'nothing changed');
  });

  it('publishes the audit event of a change even when the reader of its output has gone (EPIPE ends the run at once)', async () => {
    const name = unique('gone');
    const events = await auditEventsFrom(`${Subjects.auditPrefix}scope.>`);
    try {
      const run = start(['scopes', 'create', name, '--description', 'Its reader went away']);
      run.child.stdout!.destroy(); // before the CLI writes its answer: that write fails with EPIPE
      assert.equal(await run.exited, 0, run.stderr());
      assert.equal(await db.collection('scopes').countDocuments({ _id: name as never }), 1, 'the change is saved');
      assert.deepEqual((await events.next(name, 1)).map((e) => e.type), ['oauth.scope.created']);
    } finally {
      events.close();
    }
  });

  it('publishes oauth.client.created, .secret_rotated and .deleted on OAUTH_AUDIT, and announces the change', async () => {
    const scope = unique('audit');
    await ok(['scopes', 'create', scope, '--description', 'Audited']);
    const events = await auditEventsFrom(`${Subjects.auditPrefix}client.>`);
    const announcements: string[] = [];
    const sub = nc.subscribe(Subjects.referenceDataChanged, { callback: (_e, msg) => void announcements.push(msg.string()) });
    await nc.flush();
    try {
      const { client_id: clientId, client_secret: secret } = json<{ client_id: string; client_secret: string }>(
        await ok(['clients', 'create', '--name', 'Audited', '--type', 'confidential', '--redirect-uri', 'https://a.example.com/cb', '--scope', scope, '--json']));
      await ok(['clients', 'rotate-secret', clientId]);
      await ok(['clients', 'delete', clientId]);
      const received = await events.next(clientId, 3);
      assert.deepEqual(received.map((e) => e.type), ['oauth.client.created', 'oauth.client.secret_rotated', 'oauth.client.deleted']);
      const [created] = received;
      assert.equal(created!.specversion, '1.0');
      assert.equal(created!.source, 'urn:oauth:admin-cli');
      assert.deepEqual(created!.data, { client_id: clientId, scope });
      assert.ok(!JSON.stringify(received).includes(secret), 'no secret in events');
      assert.ok(announcements.includes(JSON.stringify({ kind: 'clients' })), 'reference data change announced');
    } finally {
      sub.unsubscribe();
      events.close();
    }
  });

  it('audit tail prints an event published after it starts, as one JSON line, and stops on Ctrl-C', async () => {
    const tail = start(['audit', 'tail', '--type', 'oauth.scope.created']);
    try {
      await waitFor(() => tail.stderr().includes('following'), 10_000, () => `tail did not start: ${tail.stderr()}`);
      const name = unique('tailed');
      await ok(['scopes', 'create', name, '--description', 'Tailed']);
      await waitFor(() => lines(tail.stdout()).some((l) => l.includes(`"${name}"`)), 10_000, () => `no event for ${name} in ${tail.stdout()}`);
      const line = lines(tail.stdout()).find((l) => l.includes(`"${name}"`))!;
      const event = JSON.parse(line) as CloudEvent;
      assert.deepEqual([event.type, event.subject, event.source, event.data], ['oauth.scope.created', name, 'urn:oauth:admin-cli', { scope: name }]);
      tail.child.kill('SIGINT');
      assert.equal(await tail.exited, 0);
    } finally {
      tail.child.kill('SIGKILL');
    }
  });

  it('with NATS down the change is still made, the audit event waits in audit_outbox, and a warning says so', async () => {
    const name = unique('offline');
    const result = await cli(['scopes', 'create', name, '--description', 'Made offline'], { env: { NATS_URL: `nats://127.0.0.1:${await freePort()}` } });
    assert.equal(result.code, 0, result.stderr);
    // Bounded by the 3 s connection timeout; the margin is for a loaded machine running this file's tests at once.
    // Timed from the process's start: the wait for a slot among this file's concurrent CLI runs is not the command's.
    assert.ok(result.ms < 20_000, 'does not hang');
    assert.equal(lines(result.stderr).length, 1);
    assert.match(result.stderr, /^oauth-admin: warning: NATS is unreachable/);
    assert.equal(await db.collection('scopes').countDocuments({ _id: name as never }), 1);
    // The outbox keeps each event as the JSON it publishes (`payload`).
    const outboxed = (await db.collection('audit_outbox').find().toArray())
      .map((doc) => ({ subject: doc.subject as string, event: JSON.parse(doc.payload as string) as { subject: string; source: string } }))
      .find((doc) => doc.event.subject === name);
    assert.equal(outboxed?.subject, 'oauth.audit.scope.created');
    assert.equal(outboxed?.event.source, 'urn:oauth:admin-cli');

    // A refusal while NATS is down is still exactly one line.
    const refused = await cli(['scopes', 'create', name, '--description', 'Again'], { env: { NATS_URL: `nats://127.0.0.1:${await freePort()}` } });
    assert.equal(refused.code, 1);
    assert.deepEqual(lines(refused.stderr), [`oauth-admin: scope "${name}" already exists`]);
  });

  it('keys rotate: a new ES256 key signs, the old one stays published until its tokens have expired', async () => {
    const env = { OAUTH_KEY_ENCRYPTION_KEY: randomToken(32) };
    const first = json<{ kid: string; superseded: string[] }>(await ok(['keys', 'rotate', '--json'], { env }));
    const second = json<{ kid: string; superseded: string[]; retire_at: string }>(await ok(['keys', 'rotate', '--json'], { env }));
    assert.deepEqual(second.superseded, [first.kid]);
    const listed = json<{ kid: string; alg: string; state: string; status: string; retire_at: string | null }[]>(await ok(['keys', 'list', '--json']));
    assert.deepEqual(listed.map((k) => [k.kid, k.alg, k.state, k.status]), [[second.kid, 'ES256', 'active', 'signing'], [first.kid, 'ES256', 'retiring', 'published']]);
    // The longest client access-token lifetime (at least the 600 s default) plus a margin.
    assert.ok(Date.parse(listed[1]!.retire_at!) >= Date.now() + 600_000);

    const doc = await db.collection('signing_keys').findOne({ _id: second.kid as never });
    assert.ok(doc);
    // Encrypted under the configured key-encryption key, with the kid as associated data.
    const kek = keyEncryptionKey(parseConfig(CommonConfigSchema, env));
    const privateJwk = JSON.parse(decrypt(kek, doc.privateJwkEncrypted, second.kid)) as { d?: string; crv?: string };
    assert.equal(privateJwk.crv, 'P-256');
    const list = await ok(['keys', 'list']);
    assert.ok(!list.stdout.includes(privateJwk.d!), 'the private key is never printed');
  });

  it('keys list: each kid with its state (next, active, retiring), created, activates, retires; --json an array', async () => {
    const ownDb = uniqueMongoUri('keyslist'); // the describe's tests run concurrently: keys of this test's own
    const kek = randomBytes(32);
    const now = Date.now();
    const at = (seconds: number) => new Date(now + seconds * 1000);
    // As the schedule leaves them: an old key retiring, the active one, and the next one published ahead of its activation
    // (15 minutes ahead: the CLI may wait for a slot among this file's concurrent runs on a loaded machine).
    const retiring = { ...await generateSigningKey(kek, at(-200), at(-200)), supersededAt: at(-100), retireAt: at(3600) };
    const active = { ...await generateSigningKey(kek, at(-100), at(-100)), supersededAt: at(900), retireAt: at(5000) };
    const next = await generateSigningKey(kek, at(-10), at(900));
    const mongo = await MongoClient.connect(ownDb);
    try {
      await mongo.db().collection('signing_keys').insertMany([retiring, active, next] as never[]);
      const listed = json<{ kid: string; state: string; created_at: string; activates_at: string; retire_at: string | null }[]>(
        await ok(['keys', 'list', '--json'], { env: { MONGODB_URI: ownDb } }));
      assert.deepEqual(listed.map((k) => [k.kid, k.state]), [[next._id, 'next'], [active._id, 'active'], [retiring._id, 'retiring']]);
      assert.equal(listed[0]!.activates_at, at(900).toISOString());
      assert.equal(listed[1]!.retire_at, at(5000).toISOString());
      const table = (await ok(['keys', 'list'], { env: { MONGODB_URI: ownDb } })).stdout.trim().split('\n');
      assert.match(table[0]!, /^KID\s+STATE\s+CREATED\s+ACTIVATES\s+RETIRES$/);
      assert.match(table[1]!, new RegExp(`^${next._id}\\s+next\\s`));
      assert.match(table[2]!, new RegExp(`^${active._id}\\s+active\\s`));
      assert.match(table[3]!, new RegExp(`^${retiring._id}\\s+retiring\\s`));
      for (const bad of [['keys', 'list', 'extra'], ['keys', 'list', '--jsn'], ['keys', 'list', '--json=yes']]) {
        const refused = await cli(bad, { env: { MONGODB_URI: ownDb } });
        assert.notEqual(refused.code, 0, bad.join(' '));
        assert.equal(lines(refused.stderr).length, 1, refused.stderr);
        assert.equal(refused.stdout, '');
      }
    } finally {
      await mongo.db().dropDatabase();
      await mongo.close();
    }
  });

  // Security finding 1: `keys rotate` without OAUTH_KEY_ENCRYPTION_KEY encrypted a new signing
  // key under the public development key whatever the issuer, database or NATS.
  it('finding 1: keys rotate without OAUTH_KEY_ENCRYPTION_KEY refuses (78, one line) unless everything is loopback, and creates no key', async () => {
    const ownDb = uniqueMongoUri('rotaterefused'); // the describe's tests run concurrently: count keys in a database of this test's own
    const offLoopback: [string, Record<string, string>][] = [
      ['OAUTH_ISSUER', { OAUTH_ISSUER: 'https://id.example.com' }],
      ['TOKEN_SERVICE_URL', { TOKEN_SERVICE_URL: 'https://token.example.com' }],
      ['MONGODB_URI', { MONGODB_URI: 'mongodb://db.example.com:27017,127.0.0.1:27017/oauth?replicaSet=rs0' }],
      ['NATS_URL', { NATS_URL: `${NATS_URL},nats://nats.example.com:4222` }],
    ];
    for (const [setting, env] of offLoopback) {
      const result = await cli(['keys', 'rotate'], { env: { MONGODB_URI: ownDb, ...env } });
      assert.equal(result.code, 78, `${setting}: ${result.stderr}`);
      assert.deepEqual(lines(result.stderr).length, 1, result.stderr);
      assert.match(result.stderr, new RegExp(`^oauth-admin: .*OAUTH_KEY_ENCRYPTION_KEY is missing.* ${setting} must name only loopback hosts`));
    }
    const mongo = await MongoClient.connect(ownDb);
    try {
      assert.equal(await mongo.db().collection('signing_keys').countDocuments(), 0, 'no signing key was created');
    } finally {
      await mongo.close();
    }
    // Commands that use no key-encryption key still work against such settings.
    assert.equal((await cli(['scopes', 'list'], { env: { OAUTH_ISSUER: 'https://id.example.com' } })).code, 0);
  });

  it('a configuration mistake gives one line naming the variable and a non-zero exit', async () => {
    const result = await cli(['scopes', 'list'], { env: { MONGODB_URI: 'foo' } });
    assert.notEqual(result.code, 0);
    assert.equal(lines(result.stderr).length, 1);
    assert.match(result.stderr, /^oauth-admin: .*MONGODB_URI/);
    assert.equal(result.stdout, '');
  });

  it('--help works at every level without touching the database', async () => {
    const levels = [['--help'], ['help'], ['clients', '--help'], ['clients', 'create', '--help'], ['users', 'create', '-h'], ['audit', 'tail', '--help'], ['keys', '--help']];
    const results = await Promise.all(levels.map((args) => cli(args, { env: { MONGODB_URI: 'mongodb://127.0.0.1:1/unreachable' } })));
    results.forEach((result, i) => {
      assert.equal(result.code, 0, levels[i]!.join(' '));
      assert.match(result.stdout, /Usage:\s+oauth-admin/);
      assert.equal(result.stderr, '');
    });
    assert.match(results[3]!.stdout, /shown only once/);
  });

  it('bin/oauth-admin.js tells the user to run it through npx when the PATH node is older than 23', async (t) => {
    const old = findOldNode();
    if (!old) return t.skip('no Node older than 23 on this machine');
    const result = await cli(['scopes', 'list'], { node: old });
    assert.equal(result.code, 1);
    assert.equal(lines(result.stderr).length, 1);
    assert.match(result.stderr, /Node 24 is required.*npx oauth-admin/);
  });
});

async function waitFor(condition: () => boolean, timeoutMs: number, message: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(message());
    await new Promise((r) => setTimeout(r, 25));
  }
}

function findOldNode(): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (dir.includes('node_modules')) continue;
    const candidate = path.join(dir, 'node');
    try {
      const version = execFileSync(candidate, ['-p', 'process.versions.node'], { encoding: 'utf8' }).trim();
      if (Number(version.split('.')[0]) < 23) return candidate;
    } catch {
      // not there
    }
  }
  return undefined;
}

// Ending access: one test at a time (each spawns several CLI runs), after the group above.
describe('oauth-admin: ending access (users/clients disable|enable|delete, grants)', () => {
  it('users disable|enable|delete: store the revocation of every token of the user first, print one line each, emit their events', async () => {
    const username = `dis_${randomToken(6).replace(/[^a-z0-9]/gi, 'x')}`;
    const { sub } = await createUser(db, { username, password: 'a long passphrase', groups: [] });
    const events = await auditEventsFrom(`${Subjects.auditPrefix}user.>`);
    const revocations: string[] = [];
    const heard = nc.subscribe(Subjects.revocationRecorded, { callback: (_e, msg) => void revocations.push(msg.string()) });
    await nc.flush();
    try {
      const disabled = await ok(['users', 'disable', username]);
      assert.match(disabled.stdout, new RegExp(`^Disabled user ${username}: sessions ended, 0 live grants ended`));
      const doc = await db.collection('users').findOne({ _id: sub as never });
      assert.equal(doc?.disabled, true);
      const record = await db.collection('revocations').findOne({ _id: `subject:${sub}` as never });
      assert.ok(record, 'a subject revocation is stored');
      assert.equal(record.key, sub);
      // Recorded at the disable, then again once the change has had time to reach every service.
      assert.ok((record.issuedBefore as Date).getTime() >= (doc!.accessEndedAt as Date).getTime() + 1000);
      assert.ok((record.expiresAt as Date).getTime() > Date.now() + 600_000, 'kept while any token it covers could be presented');
      assert.equal(json<{ disabled: boolean }>(await ok(['users', 'show', username, '--json'])).disabled, true);

      await ok(['users', 'enable', username]);
      assert.equal((await db.collection('users').findOne({ _id: sub as never }))?.disabled, undefined);
      const again = await cli(['users', 'enable', username]);
      assert.equal(again.code, 1);
      assert.deepEqual(lines(again.stderr), [`oauth-admin: user "${username}" is not disabled`]);

      assert.match((await ok(['users', 'delete', username])).stdout, /^Deleted user .*: sessions ended/);
      assert.equal(await db.collection('users').countDocuments({ _id: sub as never }), 0);
      const received = await events.next(username, 3);
      assert.deepEqual(received.map((e) => e.type), ['oauth.user.disabled', 'oauth.user.enabled', 'oauth.user.deleted']);
      assert.deepEqual(received[0]!.data, { sub, username, count: 0 });
      assert.ok(revocations.some((r) => JSON.parse(r).kind === 'subject' && JSON.parse(r).key === sub), 'the revocation is broadcast');
    } finally {
      heard.unsubscribe();
      events.close();
    }
  });

  it('clients disable|enable|delete and grants list|revoke: output, stored state and events', async () => {
    const scope = unique('grants');
    await createScope(db, scope, 'Grants');
    const { clientId } = await createClient(db, { name: 'Granted', type: 'confidential', redirectUris: ['https://g.example.com/cb'], scopes: [scope], refreshTokens: true });
    const username = `gr_${randomToken(6).replace(/[^a-z0-9]/gi, 'x')}`;
    const { sub } = await createUser(db, { username, password: 'a long passphrase', groups: [] });
    // Two grants as token-service stores them (refresh token families).
    const now = Date.now();
    const grantIds = [randomIdentifier(16), randomIdentifier(16)];
    await db.collection('refresh_token_families').insertMany(grantIds.map((id, i) => ({
      _id: id as never, clientId, sub, username, scopes: [scope], authTime: new Date(now), accessTokenTtlSeconds: 600,
      createdAt: new Date(now + i), expiresAt: new Date(now + 86_400_000), revokedAt: null,
    })));
    const events = await auditEventsFrom(`${Subjects.auditPrefix}client.>`);
    const grantEvents = await auditEventsFrom(`${Subjects.auditPrefix}grant.>`);
    try {
      const listed = json<Record<string, string>[]>(await ok(['grants', 'list', '--user', username, '--json']));
      assert.deepEqual(listed.map((g) => [g.grant_id, g.client_id, g.username, g.scope]), grantIds.map((id) => [id, clientId, username, scope]));
      assert.ok(listed.every((g) => !Number.isNaN(Date.parse(g.created!))));
      assert.match((await ok(['grants', 'list', '--client', clientId])).stdout, new RegExp(`^GRANT_ID\\s+CLIENT_ID\\s+USERNAME\\s+SCOPE\\s+CREATED\\n${grantIds[0]}`));

      assert.match((await ok(['grants', 'revoke', grantIds[0]!])).stdout, new RegExp(`^Revoked grant ${grantIds[0]}`));
      assert.ok(await db.collection('revocations').findOne({ _id: `grant:${grantIds[0]}` as never }));
      assert.deepEqual(json<{ grant_id: string }[]>(await ok(['grants', 'list', '--client', clientId, '--json'])).map((g) => g.grant_id), [grantIds[1]]);
      const twice = await cli(['grants', 'revoke', grantIds[0]!]);
      assert.equal(twice.code, 1);
      assert.deepEqual(lines(twice.stderr), [`oauth-admin: grant "${grantIds[0]}" has already ended`]);

      assert.match((await ok(['clients', 'disable', clientId])).stdout, new RegExp(`^Disabled client ${clientId}: 1 live grant ended`));
      assert.equal((await db.collection('clients').findOne({ _id: clientId as never }))?.disabled, true);
      assert.ok(await db.collection('revocations').findOne({ _id: `client:${clientId}` as never }));
      assert.equal(json<unknown[]>(await ok(['grants', 'list', '--user', username, '--json'])).length, 0, 'every grant of the client ended');
      assert.match((await ok(['grants', 'list', '--user', username])).stdout, /^\(none\)/);
      await ok(['clients', 'enable', clientId]);
      await ok(['grants', 'revoke', '--user', username]);
      await ok(['clients', 'delete', clientId]);
      assert.equal(await db.collection('clients').countDocuments({ _id: clientId as never }), 0);

      assert.deepEqual((await events.next(clientId, 3)).map((e) => e.type), ['oauth.client.disabled', 'oauth.client.enabled', 'oauth.client.deleted']);
      const revoked = await grantEvents.next(username, 2);
      assert.deepEqual(revoked.map((e) => e.type), ['oauth.grant.revoked', 'oauth.grant.revoked']);
      assert.deepEqual(revoked[0]!.data, { grant_id: grantIds[0], client_id: clientId, sub, username, count: 1 });
    } finally {
      events.close();
      grantEvents.close();
    }
  });

  it('refuses bad input for the ending-access commands with one line, changing nothing', async () => {
    const username = `bad_${randomToken(6).replace(/[^a-z0-9]/gi, 'x')}`;
    const { sub } = await createUser(db, { username, password: 'a long passphrase', groups: [] });
    // This file's other tests run side by side: what this one could have changed is counted, not whole collections.
    const count = async () => Promise.all([
      db.collection('users').countDocuments({ username, disabled: { $exists: false } }),
      db.collection('revocations').countDocuments({ key: { $in: [sub, 'c_nope', 'c_x', 'AAAAAAAAAAAAAAAAAAAAAA'] } }),
      db.collection('clients').countDocuments({ _id: { $in: ['c_nope', 'c_x'] } as never }),
    ]);
    const before = await count();
    const cases: [string[], number, RegExp][] = [
      [['users', 'disable', 'nobody-here'], 1, /^oauth-admin: no user "nobody-here"$/],
      [['users', 'disable', 'a b'], 2, /^oauth-admin: malformed <username>/],
      [['users', 'disable'], 2, /^oauth-admin: missing <username>/],
      [['users', 'enable', username], 1, /is not disabled$/],
      [['clients', 'disable', 'c_nope'], 1, /^oauth-admin: no client "c_nope"$/],
      [['clients', 'enable', 'c/x'], 2, /^oauth-admin: malformed <client_id>/],
      [['clients', 'delete', 'c_nope'], 1, /^oauth-admin: no client "c_nope"$/],
      [['grants', 'list'], 2, /needs --user <username> or --client <client_id>/],
      [['grants', 'list', '--user', username, '--client', 'c_x'], 2, /not both/],
      [['grants', 'list', '--client', 'c_nope'], 1, /^oauth-admin: no client "c_nope"$/],
      [['grants', 'revoke'], 2, /needs a <grant_id>, --user <username> or --client <client_id>/],
      [['grants', 'revoke', 'not a grant'], 2, /^oauth-admin: malformed <grant_id>/],
      [['grants', 'revoke', 'AAAAAAAAAAAAAAAAAAAAAA'], 1, /^oauth-admin: no grant "AAAAAAAAAAAAAAAAAAAAAA"$/],
      [['grants', 'revoke', 'AAAAAAAAAAAAAAAAAAAAAA', '--user', username], 2, /not both/],
      [['grants', 'revoke', '--user', 'nobody-here'], 1, /^oauth-admin: no user "nobody-here"$/],
      [['grants', 'revoke', '--user', username, '--client', 'c_x'], 2, /not both/],
      [['grants', 'frobnicate'], 2, /unknown command "grants frobnicate"/],
    ];
    // A few at a time: this file's tests already run side by side.
    const results: Result[] = [];
    for (let i = 0; i < cases.length; i += 3) results.push(...await Promise.all(cases.slice(i, i + 3).map(([args]) => cli(args))));
    results.forEach((result, i) => {
      const [args, code, message] = cases[i]!;
      assert.equal(result.code, code, `${args.join(' ')}: ${result.stderr}`);
      assert.equal(lines(result.stderr).length, 1, args.join(' '));
      assert.match(lines(result.stderr)[0]!, message, args.join(' '));
      assert.equal(result.stdout, '');
    });
    assert.deepEqual(await count(), before, 'nothing changed');
    assert.equal((await db.collection('users').findOne({ username }))?.disabled, undefined);
  });

  it('with the database down, users disable and grants revoke say so on one line, exit 1 and change nothing', async () => {
    const username = `dbdown_${randomToken(6).replace(/[^a-z0-9]/gi, 'x')}`;
    const { sub } = await createUser(db, { username, password: 'a long passphrase', groups: [] });
    const down = { MONGODB_URI: `mongodb://127.0.0.1:${await freePort()}/oauth`, DB_TIMEOUT_MS: '500' };
    for (const args of [['users', 'disable', username], ['users', 'delete', username], ['grants', 'revoke', '--user', username], ['clients', 'disable', 'c_any']]) {
      const result = await cli(args, { env: down });
      assert.equal(result.code, 1, args.join(' '));
      assert.equal(lines(result.stderr).length, 1);
      assert.match(result.stderr, /^oauth-admin: cannot reach the database/);
      assert.equal(result.stdout, '');
    }
    const doc = await db.collection('users').findOne({ username });
    assert.ok(doc, 'the user is still there');
    assert.equal(doc.disabled, undefined);
    assert.equal(await db.collection('revocations').countDocuments({ key: sub }), 0, 'no revocation recorded');
  });
});
