// `npm start`: makes sure NATS and the database answer (local-infra.ts), runs the four services
// as child processes writing their JSON log lines straight to this process's stdout and stderr
// (each line names its service and pid), prints "ready at <issuer>" once every /readyz answers
// 200, and on SIGINT/SIGTERM stops the services and whatever infrastructure this run started.
//
//   npm start -- --instances validation-service=2,token-service=2
//
// Extra instances share the NATS work through queue groups. Only the first instance of a
// service is at its public URL; instance i (1-based) listens on the service's port + 10*(i-1).
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { DEFAULT_ISSUER_URL, DEFAULT_PORTS } from '#shared/config.ts';
import { UsageError } from '#shared/usage-error.ts';
import { ensureLocalInfra, InfraError, probeTcp, stopStarted, type LocalInfra } from './local-infra.ts';

const PROJECT_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const DEFAULT_ISSUER = DEFAULT_ISSUER_URL;
const READY_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 15_000;
const MAX_INSTANCES = 8;

/** Each service's HTTP port setting (shared/config.ts) and the setting naming its public URL. */
export const SERVICES = {
  'authorize-service': { portVar: 'AUTHORIZE_SERVICE_PORT', defaultPort: DEFAULT_PORTS.AUTHORIZE_SERVICE_PORT, urlVar: undefined },
  'consent-ui': { portVar: 'CONSENT_UI_PORT', defaultPort: DEFAULT_PORTS.CONSENT_UI_PORT, urlVar: 'CONSENT_UI_URL' },
  'token-service': { portVar: 'TOKEN_SERVICE_PORT', defaultPort: DEFAULT_PORTS.TOKEN_SERVICE_PORT, urlVar: 'TOKEN_SERVICE_URL' },
  // No public endpoint: its port serves only /healthz, /readyz and /metrics.
  'validation-service': { portVar: 'VALIDATION_SERVICE_PORT', defaultPort: DEFAULT_PORTS.VALIDATION_SERVICE_PORT, urlVar: undefined },
} as const;
export type ServiceName = keyof typeof SERVICES;
const SERVICE_NAMES = Object.keys(SERVICES) as ServiceName[];

export { UsageError };

export type InstanceCounts = Record<ServiceName, number>;

export function oneOfEach(): InstanceCounts {
  return Object.fromEntries(SERVICE_NAMES.map((name) => [name, 1])) as InstanceCounts;
}

/** Parses `validation-service=2,token-service=2`; services not named run once. */
export function parseInstances(value: string): InstanceCounts {
  const counts = oneOfEach();
  const seen = new Set<string>();
  for (const entry of value.split(',').map((part) => part.trim())) {
    const match = /^([a-z-]+)=(\d+)$/.exec(entry);
    if (!match) throw new UsageError(`--instances: expected service=count, comma separated (got ${JSON.stringify(entry)})`);
    const [, name, count] = match as unknown as [string, string, string];
    if (!(name in SERVICES)) throw new UsageError(`--instances: unknown service ${JSON.stringify(name)} (one of ${SERVICE_NAMES.join(', ')})`);
    if (seen.has(name)) throw new UsageError(`--instances: ${name} is named twice`);
    seen.add(name);
    const n = Number(count);
    if (n < 1 || n > MAX_INSTANCES) throw new UsageError(`--instances: ${name} count must be 1 to ${MAX_INSTANCES} (got ${count})`);
    counts[name as ServiceName] = n;
  }
  return counts;
}

export function parseCommandLine(args: string[]): { counts: InstanceCounts } {
  let values: { instances?: string };
  try {
    ({ values } = parseArgs({ args, options: { instances: { type: 'string' } }, strict: true, allowPositionals: false }));
  } catch (error) {
    throw new UsageError(`${(error as Error).message} (usage: npm start -- [--instances service=count,...])`);
  }
  return { counts: values.instances === undefined ? oneOfEach() : parseInstances(values.instances) };
}

/** The issuer's port when it is a local http URL: then authorize-service must listen there. */
export function localIssuerPort(issuer: string): number | undefined {
  let url: URL;
  try {
    url = new URL(issuer);
  } catch {
    throw new UsageError(`OAUTH_ISSUER is not a valid URL (got ${JSON.stringify(issuer)})`);
  }
  if (url.protocol !== 'http:' || !['localhost', '127.0.0.1', '[::1]'].includes(url.hostname)) return undefined;
  return url.port ? Number(url.port) : 80;
}

export type Instance = {
  service: ServiceName;
  label: string; // authorize-service#1
  port: number;
  /** Settings that differ from this process's environment. */
  env: Record<string, string>;
};

/** Which processes to run, on which ports, with which settings. */
export function planInstances(counts: InstanceCounts, env: NodeJS.ProcessEnv): Instance[] {
  const issuer = env.OAUTH_ISSUER || DEFAULT_ISSUER;
  const issuerPort = localIssuerPort(issuer);
  const common: Record<string, string> = { OAUTH_ISSUER: issuer };
  if (issuerPort !== undefined) common.AUTHORIZE_SERVICE_PORT = String(issuerPort);

  const instances: Instance[] = [];
  const usedBy = new Map<number, string>();
  for (const service of SERVICE_NAMES) {
    const { portVar, urlVar } = SERVICES[service];
    const base = basePort(service, env, common);
    for (let i = 0; i < counts[service]; i++) {
      const port = base + 10 * i;
      const label = `${service}#${i + 1}`;
      if (port > 65535) throw new UsageError(`${label} would need port ${port}; lower ${portVar}`);
      const other = usedBy.get(port);
      if (other) throw new UsageError(`${label} and ${other} would both use port ${port}; change ${portVar}`);
      usedBy.set(port, label);
      const own: Record<string, string> = { ...common, [portVar]: String(port) };
      // The other services derive this service's public URL from its port setting: keep it
      // pointing at the first instance, which is the public one.
      if (i > 0 && issuerPort !== undefined && urlVar && !env[urlVar]) {
        const url = new URL(issuer);
        own[urlVar] = `${url.protocol}//${url.hostname}:${base}`;
      }
      instances.push({ service, label, port, env: own });
    }
  }
  return instances;
}

function basePort(service: ServiceName, env: NodeJS.ProcessEnv, common: Record<string, string>): number {
  const { portVar, defaultPort } = SERVICES[service];
  const raw = common[portVar] ?? env[portVar];
  const port = raw ? Number(raw) : defaultPort;
  // Port 0 (any free port) would leave us nothing to poll /readyz on.
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new UsageError(`${portVar} must be a port number from 1 to 65535 for npm start (got ${JSON.stringify(raw)})`);
  return port;
}

// ---------------------------------------------------------------------------------------------
// Running

/**
 * Preloaded into every service (and the benchmark's echo endpoint): when its stdin pipe from us
 * closes (we exited, even by SIGKILL), it sends itself SIGTERM and shuts down cleanly, so no
 * service outlives npm start.
 */
export const EXIT_WITH_PARENT = `data:text/javascript,${encodeURIComponent(
  'process.stdin.on("end", () => process.kill(process.pid, "SIGTERM")).resume().unref();',
)}`;

export type Running = Instance & { child: ChildProcess; exited: Promise<void> };

function say(line: string): void {
  process.stdout.write(`[start] ${line}\n`);
}

function fail(line: string): void {
  process.stderr.write(`[start] ${line}\n`);
}

/**
 * Starts one service writing to our stdout and stderr, or to `logFd` when given (the benchmark's
 * file); `nodeArgs` go to Node (its --cpu-prof). Its lines are not relayed through this process: a
 * relay woke it for every access line, about 35 µs of CPU each (docs/performance.md), and the lines
 * stay plain JSON for `npm start | jq`.
 */
export function startInstance(instance: Instance, infra: Pick<LocalInfra, 'natsUrl' | 'mongodbUri'>, nodeArgs: readonly string[] = [], logFd?: number): Running {
  const main = path.join('services', instance.service, 'main.ts');
  const child = spawn(process.execPath, [...nodeArgs, '--import', EXIT_WITH_PARENT, main], {
    cwd: PROJECT_DIR,
    env: { ...process.env, NATS_URL: infra.natsUrl, MONGODB_URI: infra.mongodbUri, ...instance.env },
    stdio: ['pipe', logFd ?? 'inherit', logFd ?? 'inherit'],
    // Its own process group: a terminal's Ctrl-C reaches only us, and we stop the services in order.
    detached: true,
  });
  const exited = new Promise<void>((resolve) => child.once('close', () => resolve()));
  return { ...instance, child, exited };
}

/** Polls GET /readyz until it answers 200; rejects naming the instance after READY_TIMEOUT_MS. */
export async function waitReady(running: Running, host: string, stop: AbortSignal): Promise<void> {
  const url = `http://${host}:${running.port}/readyz`;
  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (!stop.aborted && Date.now() < deadline) {
    try {
      const response = await fetch(url, { signal: AbortSignal.any([stop, AbortSignal.timeout(2000)]) });
      await response.body?.cancel();
      if (response.status === 200) return;
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  if (stop.aborted) return;
  throw new Error(`${running.label} did not get ready: ${url} did not answer 200 within ${READY_TIMEOUT_MS / 1000} s (its log lines, with its pid ${running.child.pid}, say why)`);
}

export function signalGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    child.kill(signal);
  }
}

async function main(): Promise<void> {
  let counts: InstanceCounts;
  let instances: Instance[];
  try {
    ({ counts } = parseCommandLine(process.argv.slice(2)));
    instances = planInstances(counts, process.env);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    fail(error.message);
    process.exit(2);
  }
  for (const service of SERVICE_NAMES) {
    const file = path.join(PROJECT_DIR, 'services', service, 'main.ts');
    if (!fs.existsSync(file)) return exitWith(1, `${path.relative(PROJECT_DIR, file)} is missing`);
  }
  for (const { label, port } of instances) {
    if (await probeTcp({ host: '127.0.0.1', port })) {
      return exitWith(1, `port ${port} for ${label} is already in use (another npm start?)`);
    }
  }

  let infra: LocalInfra;
  try {
    infra = await ensureLocalInfra();
  } catch (error) {
    return exitWith(1, error instanceof InfraError ? error.message : (error as Error).stack ?? String(error));
  }

  const issuer = instances[0]!.env.OAUTH_ISSUER!;
  const bindHost = process.env.HTTP_HOST;
  const probeHost = !bindHost || bindHost === '0.0.0.0' || bindHost === '::' ? '127.0.0.1' : bindHost;
  const running: Running[] = [];
  const stopWaiting = new AbortController();
  let stopping = false;

  const stopAll = async (code: number, reason: string) => {
    if (stopping) return;
    stopping = true;
    stopWaiting.abort();
    (code === 0 ? say : fail)(reason);
    for (const r of running) signalGroup(r.child, 'SIGTERM');
    const allExited = Promise.all(running.map((r) => r.exited));
    const timedOut = await Promise.race([
      allExited.then(() => false),
      new Promise<boolean>((resolve) => setTimeout(() => resolve(true), STOP_TIMEOUT_MS).unref()),
    ]);
    if (timedOut) {
      for (const r of running) {
        if (r.child.exitCode === null && r.child.signalCode === null) fail(`${r.label} did not stop within ${STOP_TIMEOUT_MS / 1000} s; killing it`);
        signalGroup(r.child, 'SIGKILL');
      }
      await allExited;
    }
    if (infra.started.length > 0) {
      say(`stopping ${infra.started.map((p) => p.name).join(' and ')} (started by this run)`);
      await stopStarted(infra.started);
    }
    process.exit(code);
  };

  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(signal, () => void stopAll(0, `${signal}: stopping`));
  }
  // Last resort if this process dies some other way: do not leave services behind.
  process.on('exit', () => {
    for (const r of running) signalGroup(r.child, 'SIGKILL');
  });

  for (const instance of instances) {
    const r = startInstance(instance, infra);
    running.push(r);
    r.child.once('error', (error) => void stopAll(1, `${r.label} could not be started: ${error.message}`));
    r.child.once('exit', (code, signal) => {
      if (!stopping) void stopAll(1, `${r.label} exited unexpectedly (${signal ?? `code ${code}`}); stopping everything`);
    });
  }

  try {
    await Promise.all(running.map((r) => waitReady(r, probeHost, stopWaiting.signal)));
  } catch (error) {
    return void stopAll(1, (error as Error).message);
  }
  if (stopping) return;
  for (const r of running) say(`${r.label} listening on http://${probeHost}:${r.port}`);
  process.stdout.write(`ready at ${issuer}\n`);
}

function exitWith(code: number, line: string): void {
  fail(line);
  process.exit(code);
}

if (import.meta.main) {
  main().catch((error: Error) => {
    fail(error.stack ?? String(error));
    process.exit(1);
  });
}
