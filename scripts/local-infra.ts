// Makes sure NATS (with JetStream) and a MongoDB-protocol database answer at NATS_URL and
// MONGODB_URI, starting local ones under .data/ when they do not (DESIGN.md, "Local
// infrastructure"). Used by `npm start`, `npm test` and `.ci/run`; run it alone with
// `npm run infra`, and stop what it started with `npm run infra -- --stop`.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { MongoClient } from 'mongodb';

/** Newest 2.12 patch on the Go module proxy when this was written (`go list -m -versions`). */
export const NATS_SERVER_VERSION = 'v2.12.15';
/** Last FerretDB 1.x: it runs on plain PostgreSQL or SQLite (2.x needs the DocumentDB extension). */
export const FERRETDB_VERSION = 'v1.24.2';
/** Debian ships nats-server 2.9, which is too old (and has a known CVE); we want at least this. */
const MIN_NATS_SERVER = [2, 10] as const;

export const DEFAULT_NATS_URL = 'nats://127.0.0.1:4222';
export const DEFAULT_MONGODB_URI = 'mongodb://127.0.0.1:27017/oauth';

const PROJECT_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const START_TIMEOUT_MS = 30_000;
const DOCKER_HINT = 'or run `docker compose -f deploy/docker-compose.dev.yml up -d nats mongo`';

export type Endpoint = { host: string; port: number };
export type StartedProcess = { name: string; pid: number };
export type LocalInfra = { started: StartedProcess[]; natsUrl: string; mongodbUri: string };
export type InfraOptions = {
  env?: NodeJS.ProcessEnv;
  /** Where .data/ lives; the repository root by default. */
  projectDir?: string;
  log?: (line: string) => void;
};

/** A problem the user has to fix (install something, free a port); its message is one line. */
export class InfraError extends Error {}

type Context = { env: NodeJS.ProcessEnv; dataDir: string; log: (line: string) => void };

const contextOf = (options: InfraOptions): Context => ({
  env: options.env ?? process.env,
  dataDir: path.join(options.projectDir ?? PROJECT_DIR, '.data'),
  log: options.log ?? ((line) => process.stdout.write(`[infra] ${line}\n`)),
});

export async function ensureLocalInfra(options: InfraOptions = {}): Promise<LocalInfra> {
  const ctx = contextOf(options);
  const { env } = ctx;
  const natsUrl = env.NATS_URL || DEFAULT_NATS_URL;
  const mongodbUri = env.MONGODB_URI || DEFAULT_MONGODB_URI;
  // Checked first, whether or not a database is started: a wrong setting is refused every time.
  const heldCpu = databaseCpu(env);
  const started: StartedProcess[] = [];
  try {
    // One after the other: if the database fails, what NATS started is still recorded below.
    const nats = await ensureNats(ctx, natsUrl);
    if (nats) started.push(nats);
    const db = await ensureDatabase(ctx, mongodbUri, heldCpu);
    if (db) started.push(db);
  } finally {
    if (started.length > 0) recordStarted(ctx.dataDir, started);
  }
  return { started, natsUrl, mongodbUri };
}

// ---------------------------------------------------------------------------------------------
// URLs

/** Host and port of the first server in NATS_URL (which may list several, comma separated). */
export function parseNatsUrl(natsUrl: string): Endpoint {
  const first = natsUrl.split(',')[0]!.trim();
  let url: URL;
  try {
    url = new URL(first.includes('://') ? first : `nats://${first}`);
  } catch {
    throw new InfraError(`NATS_URL is not a valid URL (got ${JSON.stringify(natsUrl)})`);
  }
  return { host: stripBrackets(url.hostname), port: url.port ? Number(url.port) : 4222 };
}

/** Host and port of the first host in a MongoDB connection string (WHATWG URL cannot parse host lists). */
export function parseMongoUri(uri: string): Endpoint & { srv: boolean } {
  const match = /^mongodb(\+srv)?:\/\/(?:[^@/]*@)?([^/?]+)/.exec(uri);
  if (!match) throw new InfraError(`MONGODB_URI must start with mongodb:// or mongodb+srv:// (got ${JSON.stringify(uri)})`);
  const first = match[2]!.split(',')[0]!;
  const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(first); // [::1]:27017
  const [host, port] = bracketed ? [bracketed[1]!, bracketed[2]] : first.split(':');
  return { host: decodeURIComponent(host!), port: port ? Number(port) : 27017, srv: match[1] !== undefined };
}

/** Only servers on this machine are ours to start. */
export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

function stripBrackets(host: string): string {
  return host.startsWith('[') ? host.slice(1, -1) : host;
}

/** Servers listen on an address, not a name: `localhost` could mean ::1 or 127.0.0.1. */
function listenHost(host: string): string {
  return host === 'localhost' ? '127.0.0.1' : host;
}

function hostPort({ host, port }: Endpoint): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

// ---------------------------------------------------------------------------------------------
// Probes

/** True when something accepts a TCP connection at the endpoint. */
export function probeTcp({ host, port }: Endpoint, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port, timeout: timeoutMs });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.once('connect', () => done(true));
    socket.once('timeout', () => done(false));
    socket.once('error', () => done(false));
  });
}

/** The parsed INFO a NATS server sends first on every connection, or undefined if none came. */
export function probeNats({ host, port }: Endpoint, timeoutMs = 2000): Promise<Record<string, unknown> | undefined> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port, timeout: timeoutMs });
    let received = '';
    const done = (info: Record<string, unknown> | undefined) => {
      socket.destroy();
      resolve(info);
    };
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      received += chunk;
      const end = received.indexOf('\r\n');
      if (end === -1 && received.length < 64 * 1024) return;
      const line = end === -1 ? received : received.slice(0, end);
      if (!line.startsWith('INFO ')) return done(undefined);
      try {
        done(JSON.parse(line.slice(5)) as Record<string, unknown>);
      } catch {
        done({});
      }
    });
    socket.once('timeout', () => done(undefined));
    socket.once('error', () => done(undefined));
    socket.once('end', () => done(undefined));
  });
}

/** Runs MongoDB's `ping`; rejects with the driver's error when the server does not answer it. */
export async function pingMongo(uri: string, timeoutMs = 5000): Promise<void> {
  const client = new MongoClient(uri, { serverSelectionTimeoutMS: timeoutMs, connectTimeoutMS: timeoutMs });
  try {
    await client.db('admin').command({ ping: 1 });
  } finally {
    await client.close();
  }
}

// ---------------------------------------------------------------------------------------------
// NATS

async function ensureNats(ctx: Context, natsUrl: string): Promise<StartedProcess | undefined> {
  const endpoint = parseNatsUrl(natsUrl);
  const info = await probeNats(endpoint);
  if (info) {
    if (info.jetstream !== true) ctx.log(`warning: the NATS server at ${natsUrl} does not report JetStream; audit events need it (start it with -js)`);
    return undefined;
  }
  if (!isLoopback(endpoint.host)) {
    throw new InfraError(`no NATS server answers at NATS_URL ${natsUrl} (one is started only for a local address)`);
  }
  if (await probeTcp(endpoint)) {
    throw new InfraError(`something listens on ${hostPort(endpoint)} but it is not a NATS server; stop it or set NATS_URL`);
  }
  const bin = await natsServerFor(ctx);
  const storeDir = path.join(ctx.dataDir, 'nats');
  fs.mkdirSync(storeDir, { recursive: true });
  const logFile = path.join(ctx.dataDir, 'nats.log');
  const child = startDetached(bin, ['-js', '-a', listenHost(endpoint.host), '-p', String(endpoint.port), '-sd', storeDir], logFile, ctx.env);
  await waitUntil(child, 'nats-server', logFile, async () => (await probeNats(endpoint)) !== undefined);
  ctx.log(`started nats-server (pid ${child.pid}) at ${natsUrl}`);
  return { name: 'nats-server', pid: child.pid! };
}

/**
 * The nats-server binary `npm start` would run where no NATS answers: the first ≥ 2.10 found, else
 * one installed into .data/bin (the benchmark's private server runs it, so its figures are those a
 * new user gets, not those of an older server that happens to be on PATH).
 */
export const currentNatsServer = (options: InfraOptions = {}): Promise<string> => natsServerFor(contextOf(options));

const natsServerFor = async (ctx: Context): Promise<string> => (await findNatsServer(ctx)) ?? (await installNatsServer(ctx));

/** The first nats-server ≥ 2.10 in PATH, ~/go/bin or .data/bin. */
async function findNatsServer(ctx: Context): Promise<string | undefined> {
  const candidates = [
    ...pathCandidates(ctx.env, 'nats-server'),
    path.join(os.homedir(), 'go', 'bin', 'nats-server'),
    path.join(ctx.dataDir, 'bin', 'nats-server'),
  ];
  for (const bin of candidates) {
    const version = await natsServerVersion(bin);
    if (!version) continue;
    if (isAtLeast(version, MIN_NATS_SERVER)) return bin;
    ctx.log(`ignoring ${bin}: version ${version.join('.')} is older than ${MIN_NATS_SERVER.join('.')}`);
  }
  return undefined;
}

/** `nats-server --version` prints "nats-server: v2.9.10". */
async function natsServerVersion(bin: string): Promise<number[] | undefined> {
  if (!isExecutable(bin)) return undefined;
  const result = await run(bin, ['--version'], { timeoutMs: 10_000 });
  const match = /v(\d+)\.(\d+)\.(\d+)/.exec(result.output);
  return result.code === 0 && match ? match.slice(1).map(Number) : undefined;
}

export function isAtLeast(version: readonly number[], minimum: readonly number[]): boolean {
  for (let i = 0; i < minimum.length; i++) {
    const have = version[i] ?? 0;
    if (have !== minimum[i]) return have > minimum[i]!;
  }
  return true;
}

async function installNatsServer(ctx: Context): Promise<string> {
  const go = findGo(ctx.env);
  if (!go) {
    throw new InfraError(`NATS is not running at ${ctx.env.NATS_URL || DEFAULT_NATS_URL} and no nats-server ≥ 2.10 is installed: install nats-server (https://nats.io/download) or Go (https://go.dev/dl), ${DOCKER_HINT}`);
  }
  const binDir = path.join(ctx.dataDir, 'bin');
  fs.mkdirSync(binDir, { recursive: true });
  ctx.log(`installing nats-server ${NATS_SERVER_VERSION} into .data/bin with go install (once)`);
  const result = await run(go, ['install', `github.com/nats-io/nats-server/v2@${NATS_SERVER_VERSION}`], {
    env: { ...ctx.env, GOBIN: binDir },
  });
  if (result.code !== 0) {
    throw new InfraError(`go install of nats-server ${NATS_SERVER_VERSION} failed:\n${lastLines(result.output, 20)}`);
  }
  return path.join(binDir, 'nats-server');
}

// ---------------------------------------------------------------------------------------------
// Database

async function ensureDatabase(ctx: Context, mongodbUri: string, heldCpu: number | undefined): Promise<StartedProcess | undefined> {
  const endpoint = parseMongoUri(mongodbUri);
  // An SRV name is resolved by the driver, so there is no single port to probe: just ping.
  if (endpoint.srv || (await probeTcp(endpoint))) {
    try {
      await pingMongo(mongodbUri);
      return undefined;
    } catch (error) {
      throw new InfraError(`something answers at ${hostPort(endpoint)} but MongoDB's ping failed (${(error as Error).message}); check MONGODB_URI`);
    }
  }
  if (!isLoopback(endpoint.host)) {
    throw new InfraError(`nothing answers at MONGODB_URI ${redactUri(mongodbUri)}, and a database is only started for a local address`);
  }
  const mongod = pathCandidates(ctx.env, 'mongod').find(isExecutable);
  const started = mongod ? startMongod(ctx, mongod, endpoint) : await startFerretDb(ctx, endpoint, heldCpu);
  await waitUntil(started.child, started.name, started.logFile, async () => {
    if (!(await probeTcp(endpoint))) return false;
    await pingMongo(mongodbUri, 2000);
    return true;
  });
  ctx.log(`started ${started.name} (pid ${started.child.pid}) at ${hostPort(endpoint)}`);
  return { name: started.name, pid: started.child.pid! };
}

type Starting = { name: string; child: ChildProcess; logFile: string };

function startMongod(ctx: Context, mongod: string, endpoint: Endpoint): Starting {
  const dbPath = path.join(ctx.dataDir, 'mongo');
  fs.mkdirSync(dbPath, { recursive: true });
  const logFile = path.join(ctx.dataDir, 'mongod.log');
  const child = startDetached(mongod, ['--dbpath', dbPath, '--bind_ip', listenHost(endpoint.host), '--port', String(endpoint.port)], logFile, ctx.env);
  return { name: 'mongod', child, logFile };
}

async function startFerretDb(ctx: Context, endpoint: Endpoint, heldCpu: number | undefined): Promise<Starting> {
  const bin = await findOrBuildFerretDb(ctx);
  // A FerretDB on another port (the benchmark's own) keeps its SQLite files and log apart.
  const name = endpoint.port === parseMongoUri(DEFAULT_MONGODB_URI).port ? 'ferretdb' : `ferretdb-${endpoint.port}`;
  const stateDir = path.join(ctx.dataDir, name);
  fs.mkdirSync(stateDir, { recursive: true });
  const backend = await chooseFerretDbBackend(ctx, stateDir, endpoint.port);
  const held = backend.embedded ? await holdToCpu(ctx, heldCpu) : undefined;
  ctx.log(`starting FerretDB ${FERRETDB_VERSION} on ${backend.label}${held ? `, held to CPU ${held.cpu} (LOCAL_DB_CPU) with GOMAXPROCS=${held.env.GOMAXPROCS}` : ''}`);
  const logFile = path.join(ctx.dataDir, `${name}.log`);
  const ferretDbArgs = [
    ...backend.args,
    '--telemetry=disable',
    '--debug-addr=127.0.0.1:0', // a free port: its default 8088 is often taken
    `--listen-addr=${hostPort({ host: listenHost(endpoint.host), port: endpoint.port })}`,
    `--state-dir=${stateDir}`,
    '--log-level=warn',
  ];
  // taskset runs FerretDB in its own place (exec), so the pid recorded is FerretDB's.
  const child = held
    ? startDetached(held.taskset, ['-c', String(held.cpu), bin, ...ferretDbArgs], logFile, held.env)
    : startDetached(bin, ferretDbArgs, logFile, ctx.env);
  return { name: 'ferretdb', child, logFile };
}

/**
 * The embedded FerretDB (SQLite) is held to one CPU on Linux, the last this process may use, unless
 * LOCAL_DB_CPU says `all` or names another. Its Go runtime hands goroutines between threads on
 * every CPU it may use, and SQLite writes one transaction at a time anyway: on the 2-vCPU PVM-hosted
 * machines measured (docs/performance.md, 6 December) held to one CPU it used about a quarter less
 * CPU per refresh, and the refresh scenario ran up to a sixth faster (2 % in the least favourable
 * run). GOMAXPROCS is 1 there unless the environment sets it: with more Go processors than CPUs its
 * threads took turns on the one CPU, at two to four times the context switches; with one, its CPU
 * per insert was 13–38 % lower (docs/performance.md, "Night of 6 December").
 */
function databaseCpu(env: NodeJS.ProcessEnv): number | undefined {
  return chooseDatabaseCpu(env.LOCAL_DB_CPU, cpusOf());
}

/** taskset and the environment that hold FerretDB to `cpu`; undefined to start it on every CPU. */
async function holdToCpu(ctx: Context, cpu: number | undefined): Promise<{ taskset: string; cpu: number; env: NodeJS.ProcessEnv } | undefined> {
  if (cpu === undefined) return undefined;
  const taskset = pathCandidates(ctx.env, 'taskset').find(isExecutable);
  const refusal = taskset ? await tasksetRefusal(ctx, taskset, cpu) : 'taskset (util-linux) is not on PATH';
  if (refusal) {
    if (ctx.env.LOCAL_DB_CPU !== undefined) throw new InfraError(`LOCAL_DB_CPU=${ctx.env.LOCAL_DB_CPU}: ${refusal}`);
    ctx.log(`${refusal}: FerretDB may use every CPU (LOCAL_DB_CPU=all starts it so without trying)`);
    return undefined;
  }
  // One Go processor for the one CPU (an empty GOMAXPROCS counts as unset, as Go reads it).
  return { taskset: taskset!, cpu, env: { ...ctx.env, GOMAXPROCS: ctx.env.GOMAXPROCS || '1' } };
}

/** Why taskset cannot hold a process to `cpu` here, if it cannot: tried once first, since a sandbox may refuse to set affinity. */
async function tasksetRefusal(ctx: Context, taskset: string, cpu: number): Promise<string | undefined> {
  const { code } = await run(taskset, ['-c', String(cpu), 'true'], { env: ctx.env, timeoutMs: 10_000 });
  return code === 0 ? undefined : `taskset could not hold a process to CPU ${cpu}`;
}

/** The CPUs process `pid` (this one by default) may use; none where /proc cannot tell (not Linux, or the process is gone). */
export function cpusOf(pid: number | 'self' = 'self'): number[] {
  if (process.platform !== 'linux') return [];
  try {
    return allowedCpus(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  } catch {
    return [];
  }
}

const CPU_RANGE = /^(\d{1,5})(?:-(\d{1,5}))?$/;

/** The CPUs in `Cpus_allowed_list` of a /proc/<pid>/status text (`0-3,8`), in order; none if it is missing or unreadable. */
export function allowedCpus(status: string): number[] {
  const list = /^Cpus_allowed_list:[ \t]*(\S+)[ \t]*$/m.exec(status)?.[1] ?? '';
  const ranges = list.split(',').map((range) => CPU_RANGE.exec(range));
  if (ranges.some((range) => !range || Number(range[2] ?? range[1]) < Number(range[1]))) return [];
  return ranges.flatMap((range) => {
    const first = Number(range![1]);
    return Array.from({ length: Number(range![2] ?? first) - first + 1 }, (_, i) => first + i);
  });
}

/** CPUs as `Cpus_allowed_list` writes them: runs as ranges (`0-3,8`). */
export function cpuRanges(cpus: readonly number[]): string {
  const runs: [number, number][] = [];
  for (const cpu of cpus) {
    const last = runs.at(-1);
    if (last && cpu === last[1] + 1) last[1] = cpu;
    else runs.push([cpu, cpu]);
  }
  return runs.map(([first, last]) => (first === last ? `${first}` : `${first}-${last}`)).join(',');
}

/** LOCAL_DB_CPU against the CPUs this process may use: the CPU to hold the database to, or undefined for all. */
export function chooseDatabaseCpu(setting: string | undefined, allowed: readonly number[]): number | undefined {
  if (setting === 'all') return undefined;
  if (setting === undefined) return allowed.length > 1 ? allowed.at(-1) : undefined;
  if (allowed.length === 0) throw new InfraError(`LOCAL_DB_CPU can only be all here: a CPU is chosen on Linux only (got ${JSON.stringify(setting)})`);
  const cpu = /^\d{1,5}$/.test(setting) ? Number(setting) : NaN;
  if (!allowed.includes(cpu)) {
    throw new InfraError(`LOCAL_DB_CPU must be all or a CPU this process may use (${cpuRanges(allowed)}) (got ${JSON.stringify(setting)})`);
  }
  return cpu;
}

/** `embedded`: SQLite inside the FerretDB process (the only backend whose CPU use was measured held). */
type Backend = { label: string; args: string[]; embedded: boolean };

/**
 * SQLite files in .data/ by default: the suite runs green on it. LOCAL_DB_BACKEND=postgresql puts
 * FerretDB on a local PostgreSQL instead (about twice as fast for concurrent writes, used by the
 * benchmark), but FerretDB 1.24 on PostgreSQL hung in some system tests here (the soak test's
 * batched updates, client-authentication tests under load), so it is not the default.
 */
/**
 * SQLite's synchronous=NORMAL under FerretDB's WAL journal: a commit is durable once written to
 * the WAL, which survives a crash of FerretDB or of any service, but not of the operating system
 * or the power (the last commits before such a stop may be undone). FULL, SQLite's default, syncs
 * the disk on every commit: measured here, 16 writers got 0.8-0.9k inserts/s with p99 235 ms on
 * FULL against 1.8-1.9k/s with p99 40 ms on NORMAL. The embedded database is for development and
 * trials; production runs MongoDB (a replica set with majority writes, docs/operations.md).
 * LOCAL_DB_SQLITE_SYNCHRONOUS=full restores the strict setting.
 */
export function sqliteSynchronous(setting: string | undefined): 'normal' | 'full' {
  const chosen = setting ?? 'normal';
  if (chosen !== 'normal' && chosen !== 'full') {
    throw new InfraError(`LOCAL_DB_SQLITE_SYNCHRONOUS must be normal or full (got ${JSON.stringify(chosen)})`);
  }
  return chosen;
}

/**
 * FerretDB's SQLite location, with the pragmas this project adds to FerretDB's own (WAL, busy
 * timeout, auto_vacuum off). temp_store=MEMORY: FerretDB writes an insert command's documents with
 * multi-row INSERT statements inside a transaction (one by one when the batch fails), and SQLite
 * opens a statement journal for each, so that it can undo that statement alone (a duplicate _id).
 * Kept as a temporary file, that journal is buffered in 64 KiB chunks, which the Go SQLite's
 * allocator maps and unmaps for every statement (12 % of FerretDB's CPU in the code flow). In
 * memory it is buffered in 1 KiB chunks.
 * Durability is unchanged: a statement journal only undoes a statement inside a transaction still
 * open, and temporary tables (sorts) are in memory too.
 */
export function sqliteUrl(stateDir: string, synchronous: 'normal' | 'full'): string {
  return `file:${stateDir}/?_pragma=synchronous(${synchronous})&_pragma=temp_store(memory)`;
}

async function chooseFerretDbBackend(ctx: Context, stateDir: string, port: number): Promise<Backend> {
  const chosen = ctx.env.LOCAL_DB_BACKEND ?? 'sqlite';
  if (chosen !== 'sqlite' && chosen !== 'postgresql') {
    throw new InfraError(`LOCAL_DB_BACKEND must be sqlite or postgresql (got ${JSON.stringify(chosen)})`);
  }
  const synchronous = sqliteSynchronous(ctx.env.LOCAL_DB_SQLITE_SYNCHRONOUS);
  const sqlite: Backend = {
    label: `SQLite in ${path.relative(PROJECT_DIR, stateDir)} (synchronous=${synchronous})`,
    args: ['--handler=sqlite', `--sqlite-url=${sqliteUrl(stateDir, synchronous)}`],
    embedded: true,
  };
  if (chosen === 'sqlite') return sqlite;
  const postgresUrl = await preparePostgres(ctx, `ferretdb_${port}`);
  if (postgresUrl) return { label: `PostgreSQL (${postgresUrl})`, args: ['--handler=postgresql', `--postgresql-url=${postgresUrl}`], embedded: false };
  throw new InfraError('LOCAL_DB_BACKEND=postgresql but no PostgreSQL on 127.0.0.1:5432 lets user postgres in via psql');
}

/**
 * The FerretDB URL of a local PostgreSQL we can use, creating `database` if needed. Each FerretDB
 * port gets a PostgreSQL database of its own: two FerretDB processes sharing one corrupt each
 * other's cached metadata and can hang.
 */
async function preparePostgres(ctx: Context, database: string): Promise<string | undefined> {
  const psql = pathCandidates(ctx.env, 'psql').find(isExecutable);
  if (!psql || !(await probeTcp({ host: '127.0.0.1', port: 5432 }))) return undefined;
  // -w: never prompt for a password (there may be no terminal).
  const query = (sql: string, database = 'postgres') =>
    run(psql, ['-h', '127.0.0.1', '-U', 'postgres', '-d', database, '-w', '-tAc', sql], { env: ctx.env, timeoutMs: 10_000 });
  const exists = await query(`select 1 from pg_database where datname = '${database}'`);
  if (exists.code !== 0) return undefined;
  if (exists.output.trim() !== '1') {
    const created = await query(`create database ${database}`);
    if (created.code !== 0) {
      ctx.log(`warning: could not create PostgreSQL database ${database} (${lastLines(created.output, 1)}); using SQLite`);
      return undefined;
    }
  }
  return `postgres://postgres@127.0.0.1:5432/${database}`;
}

/** FERRETDB_BIN, else our own build (.data/bin, built when missing or unpatched), else one on PATH. */
async function findOrBuildFerretDb(ctx: Context): Promise<string> {
  const useAsItIs = (bin: string) => {
    ctx.log(`using ${bin}, not this project's build of FerretDB: on SQLite its lookups by _id read whole collections`);
    return bin;
  };
  const named = ctx.env.FERRETDB_BIN;
  if (named) {
    const build = await ferretDbBuild(named);
    if (build === 'unusable') throw new InfraError(`FERRETDB_BIN=${named} is not an executable that reports version ${FERRETDB_VERSION} (--version)`);
    return build === 'patched' ? named : useAsItIs(named);
  }
  const ownBuild = path.join(ctx.dataDir, 'bin', 'ferretdb');
  const own = await ferretDbBuild(ownBuild);
  if (own === 'patched') return ownBuild;
  // Our own build from before the patch below is built again; should that fail (no Go, no
  // network), it still runs as it did.
  if (own === 'other') return buildFerretDb(ctx).catch((error: unknown) => {
    ctx.log(`could not build FerretDB again: ${(error as Error).message.split('\n')[0]}`);
    return useAsItIs(ownBuild);
  });
  for (const bin of [...pathCandidates(ctx.env, 'ferretdb'), path.join(os.homedir(), 'go', 'bin', 'ferretdb')]) {
    const build = await ferretDbBuild(bin);
    if (build !== 'unusable') return build === 'patched' ? bin : useAsItIs(bin);
  }
  return buildFerretDb(ctx);
}

/**
 * FerretDB 1.24's SQLite backend finds a document by `_id` with `_ferretdb_sjson->'$._id' = ?`,
 * but indexes `_ferretdb_sjson->"_id"`. SQLite reads both as the same JSON path, yet its planner
 * uses an index on an expression only for that expression as written, so every lookup by `_id`
 * (a session, a consent, an update or delete by `_id`) read and parsed the whole collection. The
 * build below writes the lookup the way the index is written. FerretDB 1.x gets no more releases
 * (2.x dropped SQLite), so the fix stays in this build; `package:` in `--version` marks it.
 */
export const FERRETDB_ID_LOOKUP_PATCH = {
  file: 'internal/backends/sqlite/metadata/metadata.go',
  from: `IDColumn = DefaultColumn + "->'$._id'"`,
  to: `IDColumn = DefaultColumn + "->'_id'"`,
};
const PATCHED_PACKAGE = 'oauth-local-infra-id-index';

/**
 * Whether `bin` runs as FerretDB of our version, and whether it is our patched build. (A plain
 * `go install` build panics at start, "Invalid build/version/version.txt".)
 */
async function ferretDbBuild(bin: string): Promise<'patched' | 'other' | 'unusable'> {
  if (!isExecutable(bin)) return 'unusable';
  const result = await run(bin, ['--version'], { timeoutMs: 10_000 });
  if (result.code !== 0 || !result.output.includes(`version: ${FERRETDB_VERSION}`)) return 'unusable';
  return result.output.includes(`package: ${PATCHED_PACKAGE}`) ? 'patched' : 'other';
}

/**
 * FerretDB's build/version/version.txt is generated by its own build tooling, so `go install`
 * cannot build a working binary. Build from a writable copy of the module with that file written.
 */
async function buildFerretDb(ctx: Context): Promise<string> {
  const go = findGo(ctx.env);
  if (!go) {
    throw new InfraError(`no MongoDB-compatible database answers at ${redactUri(ctx.env.MONGODB_URI || DEFAULT_MONGODB_URI)}: install MongoDB (mongod) or Go (https://go.dev/dl, to build FerretDB), ${DOCKER_HINT}`);
  }
  ctx.log(`building FerretDB ${FERRETDB_VERSION} once (its lookup by _id patched to use the index), this takes a few minutes`);
  const download = await run(go, ['mod', 'download', '-json', `github.com/FerretDB/FerretDB@${FERRETDB_VERSION}`], { env: ctx.env });
  if (download.code !== 0) throw new InfraError(`go mod download of FerretDB failed:\n${lastLines(download.output, 20)}`);
  const moduleDir = (JSON.parse(download.stdout) as { Dir?: string }).Dir;
  if (!moduleDir) throw new InfraError('go mod download of FerretDB did not report a module directory');

  const sourceDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ferretdb-build-'));
  try {
    fs.cpSync(moduleDir, sourceDir, { recursive: true });
    makeWritable(sourceDir); // the module cache is read-only
    fs.writeFileSync(path.join(sourceDir, 'build', 'version', 'version.txt'), FERRETDB_VERSION);
    fs.writeFileSync(path.join(sourceDir, 'build', 'version', 'package.txt'), PATCHED_PACKAGE);
    patchSource(sourceDir, FERRETDB_ID_LOOKUP_PATCH);
    const output = path.join(ctx.dataDir, 'bin', 'ferretdb');
    fs.mkdirSync(path.dirname(output), { recursive: true });
    const build = (extra: string[]) =>
      run(go, ['build', '-buildvcs=false', ...extra, '-o', output, './cmd/ferretdb'], { cwd: sourceDir, env: ctx.env });
    let result = await build([]);
    // Newer Go toolchains refuse some of its dependencies' //go:linkname uses; this lifts that check.
    if (result.code !== 0) result = await build(['-ldflags=-checklinkname=0']);
    if (result.code !== 0) throw new InfraError(`building FerretDB failed:\n${lastLines(result.output, 20)}`);
    // Else every start would build it again (FERRETDB_TEST_TELEMETRY_PACKAGE, say, overrides the package line).
    if (await ferretDbBuild(output) !== 'patched') ctx.log(`warning: ${output} does not report package ${PATCHED_PACKAGE} in --version`);
    return output;
  } finally {
    fs.rmSync(sourceDir, { recursive: true, force: true });
  }
}

/** Replaces the one line a patch names; a source without it (another version) fails the build. */
export function patchSource(sourceDir: string, patch: { file: string; from: string; to: string }): void {
  const file = path.join(sourceDir, patch.file);
  const parts = fs.readFileSync(file, 'utf8').split(patch.from);
  if (parts.length !== 2) throw new InfraError(`building FerretDB: ${patch.file} no longer holds ${patch.from} once`);
  fs.writeFileSync(file, parts.join(patch.to)); // not replace(): `$` in `to` would be a pattern
}

function makeWritable(dir: string): void {
  fs.chmodSync(dir, 0o755);
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) makeWritable(full);
    else fs.chmodSync(full, 0o644);
  }
}

function redactUri(uri: string): string {
  return uri.replace(/\/\/[^@/]*@/, '//***@');
}

// ---------------------------------------------------------------------------------------------
// Processes

/**
 * Starts `bin` in its own process group with its output appended to `logFile`, and lets this
 * process exit without it: a server started for `npm test` is reused by the next run.
 */
function startDetached(bin: string, args: string[], logFile: string, env: NodeJS.ProcessEnv): ChildProcess {
  fs.mkdirSync(path.dirname(logFile), { recursive: true });
  const logFd = fs.openSync(logFile, 'a');
  try {
    const child = spawn(bin, args, { detached: true, stdio: ['ignore', logFd, logFd], env });
    child.unref();
    return child;
  } finally {
    fs.closeSync(logFd);
  }
}

/** Polls `ready` until it holds; fails early, with the log's tail, if the process exits. */
async function waitUntil(child: ChildProcess, name: string, logFile: string, ready: () => Promise<boolean>): Promise<void> {
  let exit: string | undefined;
  child.once('error', (error) => (exit = error.message));
  child.once('exit', (code, signal) => (exit = `exited with ${signal ?? `code ${code}`}`));
  const deadline = Date.now() + START_TIMEOUT_MS;
  while (exit === undefined && Date.now() < deadline) {
    if (await ready().catch(() => false)) return;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  if (exit === undefined) killGroup(child.pid, 'SIGKILL');
  const why = exit ?? `did not answer within ${START_TIMEOUT_MS / 1000} s`;
  const log = fs.existsSync(logFile) ? lastLines(fs.readFileSync(logFile, 'utf8'), 15) : '';
  throw new InfraError(`${name} ${why}; last lines of ${logFile}:\n${log}`);
}

function killGroup(pid: number | undefined, signal: NodeJS.Signals): void {
  if (pid === undefined) return;
  try {
    process.kill(-pid, signal); // detached: the pid is also its process group id
  } catch {
    try {
      process.kill(pid, signal);
    } catch {
      // already gone
    }
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Stops processes this script started: SIGTERM, then SIGKILL after `timeoutMs`. */
export async function stopStarted(started: readonly StartedProcess[], options: { projectDir?: string; timeoutMs?: number } = {}): Promise<void> {
  for (const { pid } of started) killGroup(pid, 'SIGTERM');
  const deadline = Date.now() + (options.timeoutMs ?? 10_000);
  while (started.some(({ pid }) => isAlive(pid)) && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  for (const { pid } of started) if (isAlive(pid)) killGroup(pid, 'SIGKILL');
  const dataDir = path.join(options.projectDir ?? PROJECT_DIR, '.data');
  const stopped = new Set(started.map(({ pid }) => pid));
  writeRecorded(dataDir, readRecorded(dataDir).filter(({ pid }) => !stopped.has(pid)));
}

/** .data/infra.json lists what we started and is still running, so it can be stopped later. */
function recordStarted(dataDir: string, started: readonly StartedProcess[]): void {
  writeRecorded(dataDir, [...readRecorded(dataDir), ...started]);
}

export function readRecorded(dataDir: string): StartedProcess[] {
  try {
    const parsed = JSON.parse(fs.readFileSync(path.join(dataDir, 'infra.json'), 'utf8')) as { started?: StartedProcess[] };
    // A pid that is gone (or reused by a process that is not ours) is not worth keeping.
    return (parsed.started ?? []).filter(({ name, pid }) => isAlive(pid) && runsProgram(pid, name));
  } catch {
    return [];
  }
}

function writeRecorded(dataDir: string, started: readonly StartedProcess[]): void {
  fs.mkdirSync(dataDir, { recursive: true });
  fs.writeFileSync(path.join(dataDir, 'infra.json'), `${JSON.stringify({ started }, null, 2)}\n`);
}

/** Guards against a recycled pid where /proc can tell; elsewhere trusts the pid. */
function runsProgram(pid: number, name: string): boolean {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')[0]!.endsWith(name);
  } catch {
    return process.platform !== 'linux';
  }
}

// ---------------------------------------------------------------------------------------------
// Small helpers

/** `name` in each PATH directory, once per real file (/sbin is often a link to /usr/sbin). */
function pathCandidates(env: NodeJS.ProcessEnv, name: string): string[] {
  const seen = new Set<string>();
  return (env.PATH ?? '').split(path.delimiter).filter(Boolean).map((dir) => path.join(dir, name)).filter((file) => {
    const real = realPath(file);
    if (seen.has(real)) return false;
    seen.add(real);
    return true;
  });
}

function realPath(file: string): string {
  try {
    return fs.realpathSync(file);
  } catch {
    return file;
  }
}

function isExecutable(file: string): boolean {
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}

function findGo(env: NodeJS.ProcessEnv): string | undefined {
  return pathCandidates(env, 'go').find(isExecutable);
}

type RunResult = { code: number; stdout: string; output: string };

/** Runs a command to completion, never throwing: a missing binary is exit code 127. */
function run(bin: string, args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<RunResult> {
  return new Promise((resolve) => {
    execFile(bin, args, { cwd: options.cwd, env: options.env, timeout: options.timeoutMs, maxBuffer: 64 * 1024 * 1024 }, (error, stdout, stderr) => {
      // error.code is the exit status, or a string such as ENOENT when it could not run at all.
      const code = !error ? 0 : typeof error.code === 'number' ? error.code : error.code === 'ENOENT' ? 127 : 1;
      resolve({ code, stdout, output: `${stdout}${stderr}${error && !stderr ? error.message : ''}` });
    });
  });
}

/** The last `count` lines of `text`, for an error message. */
export function lastLines(text: string, count: number): string {
  return text.trimEnd().split('\n').slice(-count).join('\n');
}

// ---------------------------------------------------------------------------------------------
// CLI: `npm run infra` ensures both; `npm run infra -- --stop` stops what .data/infra.json lists.

async function main(args: string[]): Promise<void> {
  if (args.includes('--stop')) {
    const recorded = readRecorded(path.join(PROJECT_DIR, '.data'));
    await stopStarted(recorded);
    for (const { name, pid } of recorded) process.stdout.write(`[infra] stopped ${name} (pid ${pid})\n`);
    if (recorded.length === 0) process.stdout.write('[infra] nothing to stop\n');
    return;
  }
  const infra = await ensureLocalInfra();
  process.stdout.write(`[infra] NATS at ${infra.natsUrl}, database at ${redactUri(infra.mongodbUri)}\n`);
  if (infra.started.length > 0) {
    process.stdout.write('[infra] left running (logs in .data/); stop them with `npm run infra -- --stop`\n');
  }
}

if (import.meta.main) {
  main(process.argv.slice(2)).catch((error: Error) => {
    process.stderr.write(`[infra] ${error instanceof InfraError ? error.message : error.stack}\n`);
    process.exit(1);
  });
}
