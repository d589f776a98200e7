// The yardstick (/work/shared/bench, read-only): run-flows.sh drives any RFC 8414 server through the
// signed-in code flow and refresh rotation; run-peer.sh starts the reference peer (oidc-provider,
// in memory, or with PEER_MONGODB_URI on a database). Both run on the project's Node 24 (node_modules/.bin first on PATH), so the product
// and the peer are measured on the same Node, one after the other, in the same run.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '../test/helpers/ports.ts';
import { cpuAccountingAvailable, cpuBetween, processTree, snapshot, type CpuUse, type Watched } from './cpu.ts';
import { request } from './http.ts';
import type { MetricsTexts } from './metrics-text.ts';
import { serviceWaits, type ServiceWaits } from './service-waits.ts';

const PROJECT_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const DEFAULT_YARDSTICK_DIR = '/work/shared/bench';

/** The peer's bench client, as run-peer.sh's header lists it. */
const PEER_CLIENT = { client: 'bench', secret: 'bench-secret-0123456789abcdef', redirect: 'http://127.0.0.1:9/cb', scope: 'orders.read', user: 'any', password: 'any' };
const PEER_META_PATH = '/.well-known/openid-configuration';

export type YardstickPhase = {
  phase: string; ops_per_s: number; p50_ms: number; p99_ms: number; errors: number; firstError?: string;
  /** CPU of the server's processes and of the yardstick's own client during the phase (Linux only). */
  cpu?: CpuUse;
  /** Where requests waited inside the product's services during the phase (from their /metrics). */
  waits?: ServiceWaits;
};

/**
 * The server's processes (resolved at each reading), process names counted together (PostgreSQL's
 * backends), and, for the product, a reader of its services' /metrics.
 */
export type UnderTest = { processes: () => Watched[]; groups?: readonly string[]; metrics?: () => Promise<MetricsTexts> };

/** The label of run-flows.sh's load generator in a phase's CPU figures. */
export const YARDSTICK_CLIENT = 'yardstick client';

export type FlowsTarget = {
  issuer: string; client: string; secret: string; redirect: string; scope: string; user: string; password: string; metaPath?: string;
};

export function yardstickAvailable(dir: string): boolean {
  return fs.existsSync(path.join(dir, 'run-flows.sh')) && fs.existsSync(path.join(dir, 'run-peer.sh'));
}

/** PATH with the project's pinned Node first. */
function sameNodeEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return { ...process.env, PATH: `${path.join(PROJECT_DIR, 'node_modules', '.bin')}${path.delimiter}${process.env.PATH ?? ''}`, ...extra };
}

/**
 * Runs run-flows.sh against `target`; returns its JSON lines (refresh, code_flow), each with the CPU
 * that the processes `underTest()` lists and the yardstick's client used in it. A phase's CPU is read
 * when its line arrives, from the one before (the first phase's includes the workers' sign-ins), and
 * so are the services' /metrics where `underTest.metrics` reads them (the phase's waits).
 */
export async function runFlows(
  dir: string, target: FlowsTarget, seconds: number, concurrency: number, underTest: UnderTest = { processes: () => [] },
): Promise<YardstickPhase[]> {
  const args = [
    path.join(dir, 'run-flows.sh'),
    '--issuer', target.issuer, '--client', target.client, '--secret', target.secret, '--redirect', target.redirect,
    '--scope', target.scope, '--user', target.user, '--password', target.password,
    '--seconds', String(seconds), '--concurrency', String(concurrency),
    ...(target.metaPath ? ['--meta-path', target.metaPath] : []),
  ];
  const child = spawn('bash', args, { env: sameNodeEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
  const measuring = cpuAccountingAvailable();
  const watched = () => [...underTest.processes(), ...processTree(YARDSTICK_CLIENT, child.pid!)];
  let last = measuring ? snapshot(watched(), underTest.groups) : undefined;
  const phases: YardstickPhase[] = [];
  // Read when each phase line arrives, paired with the previous reading once the run is over; busy
  // shares are of the time between two readings (the first phase's includes the client's sign-ins).
  const metricsReads: { at: number; texts: Promise<MetricsTexts> }[] = [];
  const readMetrics = () => { if (underTest.metrics) metricsReads.push({ at: performance.now(), texts: underTest.metrics() }); };
  readMetrics();
  /** A phase line: its figures, and the CPU since the previous reading (none when /proc could not be read). */
  const onLine = (line: string) => {
    if (!line.startsWith('{')) return;
    let phase: YardstickPhase;
    try {
      phase = JSON.parse(line) as YardstickPhase;
    } catch {
      return; // not a phase line; the exit code and the phases found decide below
    }
    try {
      if (last) {
        const now = snapshot(watched(), underTest.groups);
        phase.cpu = cpuBetween(last, now, Math.round(phase.ops_per_s * seconds));
        last = now;
      }
    } catch {
      last = undefined;
    }
    readMetrics();
    phases.push(phase);
  };
  let pending = '';
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8');
  child.stderr.setEncoding('utf8');
  child.stdout.on('data', (chunk: string) => {
    stdout += chunk;
    const lines = (pending + chunk).split('\n');
    pending = lines.pop()!;
    lines.forEach(onLine);
  });
  child.stderr.on('data', (chunk: string) => (stderr += chunk));
  const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
  onLine(pending);
  if (code !== 0 || phases.length === 0) {
    throw new Error(`run-flows.sh against ${target.issuer} failed (exit ${code}): ${(stderr || stdout).trim().split('\n').slice(-5).join(' | ')}`);
  }
  const texts = await Promise.all(metricsReads.map((r) => r.texts));
  phases.forEach((phase, i) => {
    const [before, after] = [texts[i], texts[i + 1]];
    if (before && after) phase.waits = serviceWaits(before, after, (metricsReads[i + 1]!.at - metricsReads[i]!.at) / 1000);
  });
  return phases;
}

export type Peer = { issuer: string; target: FlowsTarget; processes(): Watched[]; stop(): Promise<void> };

/** Starts the reference peer on a free port (in memory, or on `mongodbUri`) and waits for its metadata. */
export async function startPeer(dir: string, mongodbUri?: string): Promise<Peer> {
  const port = await freePort();
  const env = sameNodeEnv({ PORT: String(port), ...(mongodbUri ? { PEER_MONGODB_URI: mongodbUri } : {}) });
  const child = spawn('bash', [path.join(dir, 'run-peer.sh')], { env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const issuer = `http://localhost:${port}`;
  const stop = () => stopGroup(child);
  // The first run installs the peer's packages (npm ci) into its private copy.
  const deadline = Date.now() + 180_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`run-peer.sh exited (${child.exitCode}): ${output.trim().split('\n').slice(-5).join(' | ')}`);
    try {
      const response = await request(`${issuer}${PEER_META_PATH}`);
      if (response.status === 200) {
        return { issuer, target: { issuer, ...PEER_CLIENT, metaPath: PEER_META_PATH }, processes: () => processTree('peer', child.pid!), stop };
      }
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  await stop();
  throw new Error(`the peer did not answer at ${issuer} within 180 s: ${output.trim().split('\n').slice(-5).join(' | ')}`);
}

async function stopGroup(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  try {
    process.kill(-child.pid, 'SIGTERM');
  } catch {
    child.kill('SIGTERM');
  }
  const timer = setTimeout(() => {
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      // gone
    }
  }, 5000);
  await exited;
  clearTimeout(timer);
}
