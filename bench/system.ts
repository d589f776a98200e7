// The system under measurement: either started here (local infrastructure via local-infra.ts, a
// private nats-server, the four services as child processes like `npm start` runs them, on free
// ports with a fresh database), or one already running at `--issuer`. Either way the benchmark
// registers reference data of its own: a scope, users in a group, a resource rule and a
// confidential client with refresh tokens, written as the admin CLI writes them.
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { MongoClient, type Db } from 'mongodb';
import type { NatsConnection } from '@nats-io/nats-core';
import { randomToken } from '#shared/crypto.ts';
import { announceReferenceDataChange } from '#shared/reference-data/reference-cache.ts';
import {
  cpuRanges, cpusOf, currentNatsServer, ensureLocalInfra, InfraError, lastLines, stopStarted, DEFAULT_MONGODB_URI, DEFAULT_NATS_URL, type LocalInfra,
} from '../scripts/local-infra.ts';
import { oneOfEach, planInstances, signalGroup, startInstance, waitReady, type Running, type ServiceName } from '../scripts/start.ts';
import * as admin from '../services/admin-cli/reference-data-admin.ts';
import { natsServerBinary, startPrivateNats, type PrivateNats } from '../test/helpers/nats-server.ts';
import { freePort } from '../test/helpers/ports.ts';
import type { Watched } from './cpu.ts';
import { request } from './http.ts';
import { connectBenchNats, type NatsConnectionSettings } from './nats-client.ts';

export type Metadata = {
  issuer: string;
  authorization_endpoint: string;
  token_endpoint: string;
  introspection_endpoint?: string;
};

export type BenchUser = { username: string; password: string; sub: string };

export type Fixture = {
  issuer: string;
  meta: Metadata;
  clientId: string;
  clientSecret: string;
  redirectUri: string;
  scope: string;
  users: BenchUser[];
  /** A resource the rule covers (validate requests name it). */
  resource: string;
  nc: NatsConnection;
  natsConnection: NatsConnectionSettings;
};

export type Target = {
  issuer: string;
  meta: Metadata;
  /** Every service's /metrics, by service name (where reachable). */
  metricsUrls: Map<string, string>;
  natsUrl: string;
  /** How to connect to NATS, for a load generator in a thread of its own (resource-server-thread.ts). */
  natsConnection: NatsConnectionSettings;
  database: string;
  /** A database of its own on the same server, for the reference peer measured on the same database. */
  peerDatabaseUri: string;
  /** Processes whose CPU time is measured per scenario, and process names measured as a group. */
  processes: Watched[];
  /** The database server's processes among them (watched beside the peer on the same database). */
  databaseProcesses: Watched[];
  processGroups: string[];
  db: Db;
  nc: NatsConnection;
  stop(): Promise<void>;
};

/** The client's redirect URI: loopback http (allowed for loopback only), a port nothing serves. */
const PROJECT_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const REDIRECT_URI = 'http://127.0.0.1:9/cb';
const STOP_TIMEOUT_MS = 15_000;

export type StartOptions = {
  /** Node options for every service process (the benchmark's --cpu-prof). */
  nodeArgs?: (service: ServiceName) => string[];
  log: (line: string) => void;
};

/**
 * Starts a private nats-server, the database (local-infra.ts: a database server of the
 * benchmark's own on a free port, on the backend `npm start` gives a new user, FerretDB on SQLite,
 * unless LOCAL_DB_BACKEND=postgresql or MONGODB_URI names one to use), and the four services.
 */
export async function startOwnSystem(options: StartOptions): Promise<Target> {
  // NATS of our own: the services answer in queue groups, and instances of any other system on a
  // shared server (npm start, tests) would answer our requests from their database. The server is
  // the one `npm start` gives a new user (≥ 2.10, installed once when missing), not an older one on
  // PATH: Debian's 2.9 is measurably slower (docs/performance.md).
  const binary = process.env.NATS_SERVER_BIN || await currentNatsServer({ log: (line) => options.log(`[infra] ${line}`) }).catch((error: unknown) => {
    if (!(error instanceof InfraError)) throw error;
    options.log(`no nats-server >= 2.10 and none could be installed (${error.message}); running ${natsServerBinary()}, so NATS figures are not a new user's`);
    return natsServerBinary();
  });
  const nats: PrivateNats = await startPrivateNats([], { binary });
  const cleanups: (() => Promise<void>)[] = [() => nats.stop()];
  const running: Running[] = [];
  try {
    const env: NodeJS.ProcessEnv = { ...process.env, NATS_URL: nats.url };
    if (!process.env.MONGODB_URI) env.MONGODB_URI = `mongodb://127.0.0.1:${await freePort()}/bench`;
    const infra: LocalInfra = await ensureLocalInfra({ env, log: (line) => options.log(`[infra] ${line}`) });
    cleanups.push(async () => {
      await stopStarted(infra.started);
      // The SQLite files of a FerretDB started for this run only (local-infra keeps them apart by port).
      const port = process.env.MONGODB_URI ? undefined : new URL(env.MONGODB_URI!).port;
      if (port && infra.started.length > 0) {
        for (const leftover of [`ferretdb-${port}`, `ferretdb-${port}.log`]) fs.rmSync(path.join(PROJECT_DIR, '.data', leftover), { recursive: true, force: true });
      }
    });
    const runTag = `${Date.now().toString(36)}_${randomToken(4).replace(/[^a-z0-9]/gi, 'x')}`;
    const mongodbUri = databaseUri(infra.mongodbUri, `bench_${runTag}`);
    const [a, c, t, v] = await Promise.all([freePort(), freePort(), freePort(), freePort()]);
    const issuer = `http://127.0.0.1:${a}`;
    const common: Record<string, string> = {
      OAUTH_ISSUER: issuer,
      AUTHORIZE_SERVICE_PORT: String(a),
      CONSENT_UI_PORT: String(c),
      TOKEN_SERVICE_PORT: String(t),
      VALIDATION_SERVICE_PORT: String(v),
      HTTP_HOST: '127.0.0.1',
      NODE_ENV: 'development',
      OAUTH_KEY_ENCRYPTION_KEY: randomBytes(32).toString('base64url'),
      BENCH_COUNT_DB_COMMANDS: '1',
    };
    const instances = planInstances(oneOfEach(), common).map((instance) => ({ ...instance, env: { ...common, ...instance.env } }));
    // The services log at their default level (LOG_LEVEL, info unless the environment says otherwise).
    // Their output goes to a file, as with `npm start > file`: no process of ours reads it on the way.
    const logDir = fs.mkdtempSync(path.join(os.tmpdir(), 'oauth-bench-'));
    const serviceLog = path.join(logDir, 'services.log');
    cleanups.push(async () => fs.rmSync(logDir, { recursive: true, force: true }));
    const logFd = fs.openSync(serviceLog, 'a');
    options.log(`services log at ${process.env.LOG_LEVEL || 'info'} to ${serviceLog} (removed at the end)`);
    try {
      for (const instance of instances) {
        running.push(startInstance(instance, { natsUrl: nats.url, mongodbUri }, options.nodeArgs?.(instance.service) ?? [], logFd));
      }
    } finally {
      fs.closeSync(logFd); // the children hold their own
    }
    const stopWaiting = new AbortController();
    const exitedEarly = Promise.race(running.map((r) => new Promise<never>((_, reject) => r.child.once('exit', (code, signal) =>
      reject(new Error(`${r.label} exited during start-up (${signal ?? `code ${code}`})`))))));
    try {
      await Promise.race([Promise.all(running.map((r) => waitReady(r, '127.0.0.1', stopWaiting.signal))), exitedEarly]);
    } catch (error) {
      throw new Error(`${(error as Error).message}\nthe services' last lines:\n${lastLines(fs.readFileSync(serviceLog, 'utf8'), 20)}`);
    } finally {
      stopWaiting.abort();
      exitedEarly.catch(() => undefined);
    }
    const mongo = await MongoClient.connect(mongodbUri);
    cleanups.unshift(async () => {
      await mongo.db().dropDatabase().catch(() => undefined);
      await mongo.close();
    });
    const nc = await connectBenchNats({ servers: [nats.url] }, 'bench');
    cleanups.unshift(() => nc.close());
    const meta = await fetchMetadata(issuer);
    const database = await describeDatabase(mongo.db());
    const watch = databaseWatch(database);
    return {
      issuer,
      meta,
      metricsUrls: new Map(running.map((r) => [r.service, `http://127.0.0.1:${r.port}/metrics`])),
      natsUrl: nats.url,
      natsConnection: { servers: [nats.url] },
      database: database.description,
      peerDatabaseUri: databaseUri(infra.mongodbUri, `peer_${runTag}`),
      processes: [
        ...running.map((r) => ({ label: r.service, pid: r.child.pid! })),
        { label: 'nats-server', pid: nats.process.pid! },
        ...watch.databaseProcesses,
        { label: 'load generator (bench)', pid: process.pid },
      ],
      ...watch,
      db: mongo.db(),
      nc,
      stop: async () => {
        await stopServices(running);
        for (const cleanup of cleanups) await cleanup().catch(() => undefined);
      },
    };
  } catch (error) {
    await stopServices(running);
    for (const cleanup of cleanups) await cleanup().catch(() => undefined);
    throw error;
  }
}

/** A running system: its database and NATS come from MONGODB_URI and NATS_URL. */
export async function targetRunningSystem(issuer: string, env: NodeJS.ProcessEnv): Promise<Target> {
  const meta = await fetchMetadata(issuer);
  const natsUrl = env.NATS_URL || DEFAULT_NATS_URL;
  const mongodbUri = env.MONGODB_URI || DEFAULT_MONGODB_URI;
  const mongo = await MongoClient.connect(mongodbUri);
  const natsConnection: NatsConnectionSettings = { servers: natsUrl.split(',').map((u) => u.trim()), user: env.NATS_USER, pass: env.NATS_PASSWORD };
  const nc = await connectBenchNats(natsConnection, 'bench');
  const origins = new Set([meta.authorization_endpoint, meta.token_endpoint].filter((u): u is string => !!u).map((u) => new URL(u).origin));
  const database = await describeDatabase(mongo.db());
  const watch = databaseWatch(database);
  return {
    issuer,
    meta,
    // consent-ui's origin is learnt from the first redirect (see discoverConsentUi).
    // validation-service has no public endpoint in the metadata: its /metrics only where named.
    metricsUrls: new Map([
      ...[...origins].map((origin): [string, string] => [origin, `${origin}/metrics`]),
      ...(env.VALIDATION_SERVICE_METRICS_URL ? [['validation-service', env.VALIDATION_SERVICE_METRICS_URL] as [string, string]] : []),
    ]),
    natsUrl,
    natsConnection,
    database: database.description,
    peerDatabaseUri: databaseUri(mongodbUri, `peer_${Date.now().toString(36)}`),
    processes: [...watch.databaseProcesses, { label: 'load generator (bench)', pid: process.pid }],
    ...watch,
    db: mongo.db(),
    nc,
    stop: async () => {
      await nc.close();
      await mongo.close();
    },
  };
}

async function stopServices(running: Running[]): Promise<void> {
  for (const r of running) signalGroup(r.child, 'SIGTERM');
  const all = Promise.all(running.map((r) => r.exited));
  const timer = new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), STOP_TIMEOUT_MS).unref());
  if ((await Promise.race([all, timer])) === 'timeout') {
    for (const r of running) signalGroup(r.child, 'SIGKILL');
    await all;
  }
}

export function databaseUri(base: string, name: string): string {
  const match = /^(mongodb(?:\+srv)?:\/\/[^/?]+)(?:\/[^?]*)?(\?.*)?$/.exec(base);
  if (!match) throw new Error(`MONGODB_URI is not a MongoDB URI: ${base}`);
  return `${match[1]}/${name}${match[2] ?? ''}`;
}

export async function fetchMetadata(issuer: string): Promise<Metadata> {
  const response = await request(`${issuer}/.well-known/oauth-authorization-server`);
  if (response.status !== 200) throw new Error(`${issuer}/.well-known/oauth-authorization-server answered ${response.status}`);
  return JSON.parse(response.body) as Metadata;
}

/** The database server's own process where it runs here, and PostgreSQL's backends counted as one group. */
const databaseWatch = (database: { description: string; process: string; pid?: number }): { databaseProcesses: Watched[]; processGroups: string[] } => ({
  databaseProcesses: database.pid ? [{ label: database.process, pid: database.pid }] : [],
  processGroups: database.description.includes('PostgreSQL') ? ['postgres'] : [],
});

/**
 * Which database answers: MongoDB and its version, or FerretDB and its backend (read from the
 * command line of its process when it runs on this machine), and that process's pid if local.
 */
export async function describeDatabase(db: Db): Promise<{ description: string; process: string; pid?: number }> {
  const info = await db.admin().command({ buildInfo: 1 });
  const ferret = typeof info.ferretdbVersion === 'string';
  const name = ferret ? 'ferretdb' : 'mongod';
  let pid: number | undefined;
  let args: string[] = [];
  try {
    const status = await db.admin().command({ serverStatus: 1 });
    const cmdline = fs.readFileSync(`/proc/${Number(status.pid)}/cmdline`, 'utf8').split('\0');
    // Only a process of that name is the server itself (a pid from another machine could be anything
    // here); `ferretdb-…` too, a copy kept to compare builds (FERRETDB_BIN).
    if (path.basename(cmdline[0] ?? '').startsWith(name)) {
      pid = Number(status.pid);
      args = cmdline;
    }
  } catch {
    // not on this machine, or no /proc
  }
  if (!ferret) return { description: `MongoDB ${String(info.version)}`, process: name, pid };
  const handler = args.find((arg) => arg.startsWith('--handler='))?.slice('--handler='.length);
  const backend = handler === 'postgresql' ? 'PostgreSQL backend' : handler === 'sqlite' ? 'SQLite backend' : handler ? `${handler} backend` : 'backend unknown';
  // Which build: this project's (its lookups by _id patched, scripts/local-infra.ts) or another.
  const build = args[0] ? /^package: (.+)$/m.exec(spawnSync(args[0], ['--version'], { encoding: 'utf8', timeout: 10_000 }).stdout ?? '')?.[1] : undefined;
  const held = pid === undefined ? undefined : heldToFewerCpus(pid);
  const goMaxProcs = pid === undefined ? undefined : goMaxProcsOf(pid);
  const details = [backend, ...(build ? [`package ${build}`] : []), ...(held ? [`held to CPU ${held}`] : []), ...(goMaxProcs ? [`GOMAXPROCS=${goMaxProcs}`] : [])];
  return { description: `FerretDB ${String(info.ferretdbVersion)} (${details.join(', ')})`, process: name, pid };
}

/** The CPUs a local process is held to, when they are fewer than this process may use (LOCAL_DB_CPU). */
function heldToFewerCpus(pid: number): string | undefined {
  const theirs = cpusOf(pid);
  return theirs.length > 0 && theirs.length < cpusOf().length ? cpuRanges(theirs) : undefined;
}

/** GOMAXPROCS as a local process's environment sets it, if it does (else Go chose: the CPUs it may use). */
function goMaxProcsOf(pid: number): string | undefined {
  try {
    const entry = fs.readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0').find((e) => e.startsWith('GOMAXPROCS='));
    return entry?.slice('GOMAXPROCS='.length) || undefined;
  } catch {
    return undefined; // not Linux, gone, or not ours to read
  }
}

/** Registers the benchmark's own scope, users, resource rule and client, and waits until the services see them. */
export async function registerFixture(target: Target, userCount: number, log: (line: string) => void): Promise<Fixture> {
  const { db, nc } = target;
  const tag = randomToken(6).replace(/[^a-z0-9]/gi, 'x').toLowerCase();
  const scope = `bench.${tag}.read`;
  await admin.ensureReferenceIndexes(db, silentLogger);
  await admin.createScope(db, scope, 'Read your benchmark orders');
  const users: BenchUser[] = [];
  // One user per worker: concurrent sign-ins of one account would be throttled, as they should be.
  for (let i = 0; i < userCount; i++) {
    const username = `bench_${tag}_${i}`;
    const password = `pw-${randomToken(12)}`;
    const { sub } = await admin.createUser(db, { username, password, groups: ['bench'] });
    users.push({ username, password, sub });
  }
  const pattern = `/bench-${tag}/*`;
  await admin.createResource(db, { pattern, scopes: [scope], groups: ['bench'] });
  const client = await admin.createClient(db, {
    name: 'Benchmark client', type: 'confidential', redirectUris: [REDIRECT_URI], scopes: [scope], refreshTokens: true,
    grantTypes: ['authorization_code', 'client_credentials'],
  });
  for (const kind of ['scopes', 'users', 'resources', 'clients'] as const) announceReferenceDataChange(nc, kind);
  await nc.flush();
  const fixture: Fixture = {
    issuer: target.issuer,
    meta: target.meta,
    clientId: client.clientId,
    clientSecret: client.clientSecret!,
    redirectUri: REDIRECT_URI,
    scope,
    users,
    resource: `/bench-${tag}/orders/42`,
    nc,
    natsConnection: target.natsConnection,
  };
  await waitUntilKnown(fixture);
  log(`registered scope ${scope}, ${userCount} users, resource rule ${pattern} and client ${client.clientId}`);
  return fixture;
}

/** Until authorize-service accepts the new client and scope (its caches reload on the announcement). */
async function waitUntilKnown(fixture: Fixture): Promise<void> {
  const deadline = Date.now() + 15_000;
  let last = '';
  while (Date.now() < deadline) {
    const url = new URL(fixture.meta.authorization_endpoint);
    url.search = new URLSearchParams({ response_type: 'code', client_id: fixture.clientId, redirect_uri: fixture.redirectUri, scope: fixture.scope, state: 'probe' }).toString();
    const response = await request(url.toString());
    const location = response.headers.location ?? '';
    if (response.status === 302 && !location.startsWith(fixture.redirectUri)) return;
    last = `${response.status} ${location || response.body.slice(0, 100)}`;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(`the services did not accept the benchmark's client within 15 s (last answer: ${last})`);
}

const silentLogger = {
  debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined,
} as unknown as Parameters<typeof admin.ensureReferenceIndexes>[1];

export const resultsDir = (dir: string): string => {
  fs.mkdirSync(dir, { recursive: true });
  return path.resolve(dir);
};
