// The helper scripts behind `npm start`, `npm test` and `npm run infra`: their pure parts, and
// real checks that NATS and the database answer where the suite expects them, and that the
// database finds a document by _id through its index.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { MongoClient } from 'mongodb';
import {
  allowedCpus, chooseDatabaseCpu, cpuRanges, cpusOf, ensureLocalInfra, FERRETDB_ID_LOOKUP_PATCH, InfraError, isAtLeast, isLoopback, parseMongoUri, parseNatsUrl,
  patchSource, sqliteSynchronous, sqliteUrl, stopStarted,
} from '../scripts/local-infra.ts';
import { freePort } from './helpers/ports.ts';
import { describeDatabase } from '../bench/system.ts';
import { uniqueMongoUri } from './helpers/system.ts';
import { localIssuerPort, parseCommandLine, parseInstances, planInstances, UsageError } from '../scripts/start.ts';
import { runDeadlineMs, testRunnerArgs } from '../scripts/test.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

describe('local-infra URL parsing', () => {
  it('takes host and port from NATS_URL, defaulting the port to 4222', () => {
    assert.deepEqual(parseNatsUrl('nats://127.0.0.1:4222'), { host: '127.0.0.1', port: 4222 });
    assert.deepEqual(parseNatsUrl('nats://localhost'), { host: 'localhost', port: 4222 });
    assert.deepEqual(parseNatsUrl('nats://user:secret@[::1]:14222'), { host: '::1', port: 14222 });
  });

  it('uses the first server of a comma-separated NATS_URL', () => {
    assert.deepEqual(parseNatsUrl('nats://a.example:4001, nats://b.example:4002'), { host: 'a.example', port: 4001 });
    assert.deepEqual(parseNatsUrl('127.0.0.1:5222'), { host: '127.0.0.1', port: 5222 });
    assert.throws(() => parseNatsUrl('nats://bad host'), /NATS_URL is not a valid URL/);
  });

  it('takes host and port from MONGODB_URI, including host lists and credentials', () => {
    assert.deepEqual(parseMongoUri('mongodb://127.0.0.1:27017/oauth'), { host: '127.0.0.1', port: 27017, srv: false });
    assert.deepEqual(parseMongoUri('mongodb://u:p%40ss@db1:27018,db2:27019/oauth?replicaSet=rs0'), { host: 'db1', port: 27018, srv: false });
    assert.deepEqual(parseMongoUri('mongodb://localhost/oauth'), { host: 'localhost', port: 27017, srv: false });
    assert.deepEqual(parseMongoUri('mongodb://[::1]:27117/oauth'), { host: '::1', port: 27117, srv: false });
    assert.deepEqual(parseMongoUri('mongodb+srv://cluster.example/oauth'), { host: 'cluster.example', port: 27017, srv: true });
    assert.throws(() => parseMongoUri('postgres://127.0.0.1/oauth'), /mongodb:\/\//);
  });

  it('starts servers only for loopback addresses', () => {
    for (const host of ['127.0.0.1', '127.1.2.3', 'localhost', '::1']) assert.equal(isLoopback(host), true, host);
    for (const host of ['10.0.0.1', 'db.example', '0.0.0.0']) assert.equal(isLoopback(host), false, host);
  });

  it('compares versions numerically', () => {
    assert.equal(isAtLeast([2, 9, 10], [2, 10]), false);
    assert.equal(isAtLeast([2, 10, 0], [2, 10]), true);
    assert.equal(isAtLeast([2, 12, 15], [2, 10]), true);
    assert.equal(isAtLeast([3, 0, 0], [2, 10]), true);
  });

  it('runs the embedded SQLite database with synchronous=normal unless LOCAL_DB_SQLITE_SYNCHRONOUS=full, and refuses anything else', () => {
    assert.equal(sqliteSynchronous(undefined), 'normal');
    assert.equal(sqliteSynchronous('full'), 'full');
    for (const bad of ['off', 'NORMAL', '', 'normal)&_pragma=x']) assert.throws(() => sqliteSynchronous(bad), InfraError);
  });

  it('keeps SQLite statement journals and temporary tables in memory (temp_store), beside the synchronous setting', () => {
    const url = new URL(sqliteUrl('/data/db', 'normal'));
    assert.equal(url.pathname, '/data/db/');
    assert.deepEqual(url.searchParams.getAll('_pragma').sort(), ['synchronous(normal)', 'temp_store(memory)']);
  });
});

describe('the embedded database held to one CPU (LOCAL_DB_CPU)', () => {
  it('reads the CPUs a process may use from its /proc status, and nothing from a list it cannot read', () => {
    assert.deepEqual(allowedCpus('Name:\tnode\nCpus_allowed:\t3\nCpus_allowed_list:\t0-1\n'), [0, 1]);
    assert.deepEqual(allowedCpus('Cpus_allowed_list:\t0,2-4,7\n'), [0, 2, 3, 4, 7]);
    for (const status of ['Name:\tnode\n', 'Cpus_allowed_list:\t\nfoo\n', 'Cpus_allowed_list:\t3-1\n', 'Cpus_allowed_list:\t0-999999999\n', 'Cpus_allowed_list:\t0,x\n']) {
      assert.deepEqual(allowedCpus(status), [], status);
    }
    assert.equal(cpuRanges([0, 1, 2, 3, 8, 10, 11]), '0-3,8,10-11');
  });

  it('takes the last CPU by default where there are two or more, every CPU on one, and `all` when told', () => {
    assert.equal(chooseDatabaseCpu(undefined, [0, 1]), 1);
    assert.equal(chooseDatabaseCpu(undefined, [4, 5, 9]), 9);
    assert.equal(chooseDatabaseCpu(undefined, [3]), undefined);
    assert.equal(chooseDatabaseCpu(undefined, []), undefined);
    assert.equal(chooseDatabaseCpu('all', [0, 1]), undefined);
    assert.equal(chooseDatabaseCpu('all', []), undefined);
    assert.equal(chooseDatabaseCpu('0', [0, 1]), 0);
  });

  it('refuses a CPU this process may not use, and anything that is not a CPU number, with one line', () => {
    for (const setting of ['2', '-1', '1.5', 'x', '', ' 1', '1e0', 'ALL', '999999999']) {
      assert.throws(() => chooseDatabaseCpu(setting, [0, 1]), (error: Error) => error instanceof InfraError && !error.message.includes('\n')
        && error.message.includes('LOCAL_DB_CPU must be all or a CPU this process may use (0-1)'), setting);
    }
    assert.throws(() => chooseDatabaseCpu('0', []), /^Error: LOCAL_DB_CPU can only be all here: a CPU is chosen on Linux only \(got "0"\)$/);
  });

  it('refuses a wrong LOCAL_DB_CPU at start even where the database already answers', async () => {
    await assert.rejects(ensureLocalInfra({ env: { ...process.env, LOCAL_DB_CPU: 'not a cpu' }, log: () => {} }), (error: Error) =>
      error instanceof InfraError && /^LOCAL_DB_CPU (must be all or a CPU|can only be all)/.test(error.message));
  });

  it('starts a FerretDB on SQLite held to the last CPU with GOMAXPROCS=1, and on every CPU with LOCAL_DB_CPU=all', async (t) => {
    const allowed = cpusOf();
    if (allowed.length < 2) return t.skip('needs Linux and two CPUs or more');
    if (spawnSync('taskset', ['-c', String(allowed.at(-1)), 'true']).status !== 0) return t.skip('needs taskset (util-linux) allowed to set affinity');
    if (spawnSync('mongod', ['--version']).status === 0) return t.skip('a mongod on PATH is started instead of FerretDB');
    const held = await startPrivateFerretDb(undefined);
    try {
      assert.deepEqual(held.cpus, [allowed.at(-1)]);
      assert.ok(held.environment.includes('GOMAXPROCS=1'), 'one Go processor for the one CPU');
      assert.ok(held.log.some((line) => line.endsWith(`held to CPU ${allowed.at(-1)} (LOCAL_DB_CPU) with GOMAXPROCS=1`)), held.log.join('\n'));
      assert.match(held.program, /ferretdb$/, 'taskset ran FerretDB in its own place');
      assert.match(held.description, new RegExp(`held to CPU ${allowed.at(-1)}, GOMAXPROCS=1\\)$`), 'the benchmark says so');
    } finally {
      await held.stop();
    }
    const told = await startPrivateFerretDb(undefined, { GOMAXPROCS: '2' });
    try {
      assert.deepEqual(told.cpus, [allowed.at(-1)]);
      assert.ok(told.environment.includes('GOMAXPROCS=2'), 'a GOMAXPROCS the environment sets is kept');
      assert.match(told.description, /, GOMAXPROCS=2\)$/);
    } finally {
      await told.stop();
    }
    const free = await startPrivateFerretDb('all');
    try {
      assert.deepEqual(free.cpus, allowed);
      assert.ok(!free.environment.some((entry) => entry.startsWith('GOMAXPROCS=')));
      assert.doesNotMatch(free.description, /held/);
    } finally {
      await free.stop();
    }
  });

  it('starts FerretDB on every CPU, and says why, where taskset is missing; refuses a LOCAL_DB_CPU it cannot honour', async (t) => {
    const allowed = cpusOf();
    if (allowed.length < 2) return t.skip('needs Linux and two CPUs or more');
    if (spawnSync('mongod', ['--version']).status === 0) return t.skip('a mongod on PATH is started instead of FerretDB');
    // No PATH: no taskset (and no go: the FerretDB that `npm test` built is in .data/bin).
    const unheld = await startPrivateFerretDb(undefined, { PATH: '' });
    try {
      assert.deepEqual(unheld.cpus, allowed);
      assert.ok(unheld.log.some((line) => line.startsWith('taskset (util-linux) is not on PATH: FerretDB may use every CPU')), unheld.log.join('\n'));
    } finally {
      await unheld.stop();
    }
    await assert.rejects(startPrivateFerretDb(String(allowed[0]), { PATH: '' }), new RegExp(`^Error: LOCAL_DB_CPU=${allowed[0]}: taskset \\(util-linux\\) is not on PATH$`));
  });
});

/** A FerretDB of its own on a free port (LOCAL_DB_CPU as given), read from /proc, and how the benchmark describes it. */
async function startPrivateFerretDb(cpuSetting: string | undefined, settings: NodeJS.ProcessEnv = {}) {
  const port = await freePort();
  const uri = `mongodb://127.0.0.1:${port}/held`;
  const env: NodeJS.ProcessEnv = { ...process.env, MONGODB_URI: uri, LOCAL_DB_BACKEND: 'sqlite', LOCAL_DB_CPU: cpuSetting, ...settings };
  if (cpuSetting === undefined) delete env.LOCAL_DB_CPU;
  if (settings.GOMAXPROCS === undefined) delete env.GOMAXPROCS;
  const log: string[] = [];
  const removeFiles = async () => {
    for (const leftover of [`ferretdb-${port}`, `ferretdb-${port}.log`]) await rm(path.join(ROOT, '.data', leftover), { recursive: true, force: true });
  };
  const infra = await ensureLocalInfra({ env, log: (line) => log.push(line) }).catch(async (error: unknown) => {
    await removeFiles();
    throw error;
  });
  const stop = async () => {
    await stopStarted(infra.started);
    await removeFiles();
  };
  try {
    const ferretdb = infra.started.find((p) => p.name === 'ferretdb');
    assert.ok(ferretdb, 'a FerretDB was started on the free port');
    const mongo = await MongoClient.connect(uri);
    const { description } = await describeDatabase(mongo.db()).finally(() => mongo.close());
    return {
      cpus: cpusOf(ferretdb.pid),
      environment: (await readFile(`/proc/${ferretdb.pid}/environ`, 'utf8')).split('\0'),
      program: (await readFile(`/proc/${ferretdb.pid}/cmdline`, 'utf8')).split('\0')[0]!,
      description,
      log,
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

describe('npm start --instances', () => {
  it('runs every service once unless told otherwise', () => {
    assert.deepEqual(parseCommandLine([]).counts, { 'authorize-service': 1, 'consent-ui': 1, 'token-service': 1, 'validation-service': 1 });
    assert.deepEqual(parseInstances('validation-service=2,token-service=3'), {
      'authorize-service': 1, 'consent-ui': 1, 'token-service': 3, 'validation-service': 2,
    });
    assert.equal(parseCommandLine(['--instances=consent-ui=8']).counts['consent-ui'], 8);
  });

  it('refuses unknown services, counts outside 1–8 and malformed input', () => {
    for (const bad of ['foo=2', 'token-service=0', 'token-service=9', 'token-service', 'token-service=2,token-service=3', '', 'token-service=-1']) {
      assert.throws(() => parseInstances(bad), UsageError, bad);
    }
    assert.throws(() => parseCommandLine(['--bogus']), UsageError);
    assert.throws(() => parseCommandLine(['stray']), UsageError);
  });

  it('puts authorize-service on the port of a local http issuer', () => {
    assert.equal(localIssuerPort('http://localhost:9000'), 9000);
    assert.equal(localIssuerPort('http://127.0.0.1'), 80);
    assert.equal(localIssuerPort('https://id.example.com'), undefined);
    const plan = planInstances(parseInstances('authorize-service=1'), { OAUTH_ISSUER: 'http://localhost:9000', AUTHORIZE_SERVICE_PORT: '7000' });
    assert.equal(plan.find((i) => i.service === 'authorize-service')?.port, 9000);
    assert.ok(plan.every((i) => i.env.AUTHORIZE_SERVICE_PORT === '9000'));
  });

  it('gives extra instances their own ports and keeps the public URL on the first', () => {
    const plan = planInstances(parseInstances('token-service=3'), { OAUTH_ISSUER: 'http://localhost:8080' });
    const tokens = plan.filter((i) => i.service === 'token-service');
    assert.deepEqual(tokens.map((i) => [i.label, i.port]), [['token-service#1', 8082], ['token-service#2', 8092], ['token-service#3', 8102]]);
    assert.deepEqual(tokens.map((i) => i.env.TOKEN_SERVICE_URL), [undefined, 'http://localhost:8082', 'http://localhost:8082']);
    assert.equal(new Set(plan.map((i) => i.port)).size, plan.length);
  });

  it('refuses plans whose ports collide or cannot be polled', () => {
    assert.throws(() => planInstances(parseInstances('consent-ui=2'), { CONSENT_UI_PORT: '8072' }), /both use port 8082/);
    assert.throws(() => planInstances(parseInstances('consent-ui=1'), { CONSENT_UI_PORT: '0' }), /CONSENT_UI_PORT/);
  });
});

describe('npm test arguments', () => {
  it('runs every test file unless files are named, passing options through', () => {
    assert.deepEqual(testRunnerArgs([]).slice(-3), ['services/**/*.test.ts', 'shared/**/*.test.ts', 'test/**/*.test.ts']);
    const args = testRunnerArgs(['test/foo.test.ts', '--test-name-pattern=bar']);
    assert.deepEqual(args.slice(-2), ['--test-name-pattern=bar', 'test/foo.test.ts']);
    assert.ok(args.includes('--test-concurrency=2'));
    // nodejs/node#64833: with files run side by side it drops a file's last verdicts, and passes.
    assert.ok(!args.includes('--test-force-exit'), 'every verdict is reported');
  });

  it('stops a run that a leaked handle keeps from ending, and fails it, after the verdicts are in', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'oauth-test-deadline-'));
    try {
      const file = path.join(dir, 'leaks.test.mjs');
      await writeFile(file, "import { it } from 'node:test';\nit('passes and leaves a timer running', () => { setInterval(() => {}, 1000); });\n");
      const started = Date.now();
      // Without NODE_TEST_CONTEXT, which would tell the inner runner it runs inside a test file.
      const { NODE_TEST_CONTEXT: _, ...env } = process.env;
      const run = spawnSync(process.execPath, ['scripts/test.ts', file], {
        cwd: ROOT, encoding: 'utf8', timeout: 60_000, env: { ...env, TEST_RUN_DEADLINE_MS: '10000' },
      });
      assert.equal(run.status, 1, run.stderr);
      assert.match(run.stderr, /the run did not end within 10 s: a test file left something running/);
      assert.match(run.stdout, /✔ passes and leaves a timer running/);
      assert.ok(Date.now() - started < 45_000, 'stopped at its deadline, not by the outer timeout');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('takes a deadline from TEST_RUN_DEADLINE_MS, and 30 minutes otherwise', () => {
    assert.equal(runDeadlineMs({ TEST_RUN_DEADLINE_MS: '3000' }), 3000);
    for (const unset of [{}, { TEST_RUN_DEADLINE_MS: '' }, { TEST_RUN_DEADLINE_MS: 'soon' }, { TEST_RUN_DEADLINE_MS: '-1' }]) {
      assert.equal(runDeadlineMs(unset), 30 * 60_000);
    }
  });
});

describe('ensureLocalInfra', () => {
  it('finds NATS and the database answering where the suite runs', async () => {
    const infra = await ensureLocalInfra({ log: () => {} });
    assert.match(infra.natsUrl, /^nats:\/\//);
    assert.match(infra.mongodbUri, /^mongodb(\+srv)?:\/\//);
    // `npm test` ensured both before this ran; if this test ran alone and started one, stop it.
    await stopStarted(infra.started);
  });
});

describe('FerretDB built by npm run infra', () => {
  it('patches the one line of its source that the lookup by _id needs, and refuses a source without it', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'oauth-test-patch-'));
    try {
      const file = path.join(dir, FERRETDB_ID_LOOKUP_PATCH.file);
      await mkdir(path.dirname(file), { recursive: true });
      await writeFile(file, `const (\n\t${FERRETDB_ID_LOOKUP_PATCH.from}\n)\n`);
      patchSource(dir, FERRETDB_ID_LOOKUP_PATCH);
      assert.equal(await readFile(file, 'utf8'), `const (\n\t${FERRETDB_ID_LOOKUP_PATCH.to}\n)\n`);
      assert.throws(() => patchSource(dir, FERRETDB_ID_LOOKUP_PATCH), InfraError);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  // Every keyed read the services make (a session, a consent, a claim) is a lookup by _id. On an
  // unpatched FerretDB 1.24 on SQLite each one read the whole collection (scripts/local-infra.ts).
  it('finds a document by _id through the index, not by reading the collection', async (t) => {
    const mongo = await MongoClient.connect(uniqueMongoUri('id_lookup'));
    try {
      const db = mongo.db();
      const records = db.collection<{ _id: string; n: number }>('records');
      await records.insertMany(Array.from({ length: 50 }, (_, n) => ({ _id: `record ${n}`, n })));
      const { queryPlanner } = await records.find({ _id: 'record 7' }).explain() as { queryPlanner?: { Plan?: unknown; winningPlan?: unknown } };
      if (Array.isArray(queryPlanner?.Plan)) {
        // FerretDB on SQLite: SQLite's own query plan, one line per step.
        const plan = JSON.stringify(queryPlanner.Plan);
        assert.match(plan, /SEARCH \S+ USING INDEX/, `a lookup by _id read the whole collection: ${plan}. A FerretDB started before this `
          + 'build (or named by FERRETDB_BIN, or found on PATH) is not the one scripts/local-infra.ts builds: `npm run infra -- --stop`, then run again');
      } else if (queryPlanner?.Plan !== undefined) {
        t.skip('FerretDB on PostgreSQL reads the whole collection for a lookup by _id (README); only its SQLite backend is patched');
      } else {
        assert.doesNotMatch(JSON.stringify(queryPlanner?.winningPlan), /COLLSCAN/, 'MongoDB read the whole collection for a lookup by _id');
      }
      assert.deepEqual(await records.findOne({ _id: 'record 7' }), { _id: 'record 7', n: 7 });
    } finally {
      await mongo.db().dropDatabase().catch(() => {});
      await mongo.close();
    }
  });
});
