// A real nats-server with JetStream of a test's own, on a free loopback port with its store in a
// temporary folder, stopped (and the folder removed) when the test is done.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, waitForPort } from './ports.ts';

export type PrivateNats = { url: string; port: number; process: ChildProcess; stop(): Promise<void>; restart(): Promise<void> };

const projectBinary = fileURLToPath(new URL('../../.data/bin/nats-server', import.meta.url));

/** The project's own nats-server when local-infra installed one, else the one on PATH. */
export const natsServerBinary = (): string => process.env.NATS_SERVER_BIN ?? (existsSync(projectBinary) ? projectBinary : 'nats-server');

export type PrivateNatsOptions = {
  /**
   * A configuration file to run (e.g. deploy/nats.conf): it is included by a generated one that
   * puts the server on this test's loopback port and store, with a monitoring port of its own.
   */
  config?: string;
  /** Environment of the server process (a config's `$VAR` references read it). */
  env?: Record<string, string>;
  /** The nats-server to run; natsServerBinary() by default. */
  binary?: string;
};

export async function startPrivateNats(extraArgs: string[] = [], options: PrivateNatsOptions = {}): Promise<PrivateNats> {
  const port = await freePort();
  const storeDir = await mkdtemp(join(tmpdir(), 'oauth-test-nats-'));
  let args = ['-js', '-a', '127.0.0.1', '-p', String(port), '-sd', storeDir];
  if (options.config) {
    // An include path is relative to the including file; the store_dir of the included file is replaced.
    const wrapper = join(storeDir, 'test.conf');
    await writeFile(wrapper, [
      `include ${JSON.stringify(relative(storeDir, resolve(options.config)))}`,
      'host: 127.0.0.1',
      `port: ${port}`,
      'http_port: -1',
      `jetstream { store_dir: ${JSON.stringify(join(storeDir, 'js'))}, max_memory_store: 64MB, max_file_store: 1GB }`,
      '',
    ].join('\n'));
    args = ['-c', wrapper];
  }
  const env = options.env ? { ...process.env, ...options.env } : process.env;
  const binary = options.binary ?? natsServerBinary();
  const launch = () => spawn(binary, [...args, ...extraArgs], { stdio: 'ignore', env });
  const handle: PrivateNats = {
    url: `nats://127.0.0.1:${port}`,
    port,
    process: launch(),
    stop: async () => {
      await stopProcess(handle.process);
      await rm(storeDir, { recursive: true, force: true });
    },
    restart: async () => {
      await stopProcess(handle.process);
      handle.process = launch();
      await waitForPort(port);
    },
  };
  await waitForPort(port);
  return handle;
}

async function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
  await exited;
  clearTimeout(timer);
}


/** One node of a test's NATS cluster: its client URL, monitoring port, and a process that may be killed and started again. */
export type ClusterNode = {
  /** Its server name (`-n`), as stream info's `cluster.leader` and `replicas[].name` spell it. */
  name: string;
  url: string;
  port: number;
  monitorPort: number;
  process: ChildProcess;
  running(): boolean;
  /** SIGKILL: no goodbye to the cluster or the clients. */
  kill(): Promise<void>;
  /** Starts it again on the same ports and store (after kill). */
  start(): Promise<void>;
};

export type NatsCluster = {
  nodes: ClusterNode[];
  /** Every node's client URL, comma separated (as NATS_URL takes them). */
  urls: string;
  node(name: string): ClusterNode;
  stop(): Promise<void>;
};

/**
 * `size` nats-server processes on loopback ports forming one JetStream cluster: each with a server
 * name, a route to every other node, and a store of its own under one temporary folder.
 */
export async function startNatsCluster(size = 3, clusterName = 'oauth-test'): Promise<NatsCluster> {
  const root = await mkdtemp(join(tmpdir(), 'oauth-test-nats-cluster-'));
  const specs = [];
  for (let i = 0; i < size; i++) specs.push({ name: `n${i + 1}`, port: await freePort(), routePort: await freePort(), monitorPort: await freePort() });
  const routes = specs.map((s) => `nats-route://127.0.0.1:${s.routePort}`).join(',');
  const nodes: ClusterNode[] = specs.map((spec) => {
    const args = ['-js', '-n', spec.name, '-a', '127.0.0.1', '-p', String(spec.port), '-m', String(spec.monitorPort), '-sd', join(root, spec.name),
      '--cluster_name', clusterName, '--cluster', `nats://127.0.0.1:${spec.routePort}`, '--routes', routes];
    const node: ClusterNode = {
      name: spec.name,
      url: `nats://127.0.0.1:${spec.port}`,
      port: spec.port,
      monitorPort: spec.monitorPort,
      process: spawn(natsServerBinary(), args, { stdio: 'ignore' }),
      running: () => node.process.exitCode === null && node.process.signalCode === null,
      kill: async () => {
        if (!node.running()) return;
        const exited = new Promise((resolve) => node.process.once('exit', resolve));
        node.process.kill('SIGKILL');
        await exited;
      },
      start: async () => {
        if (node.running()) return;
        node.process = spawn(natsServerBinary(), args, { stdio: 'ignore' });
        await waitForPort(spec.port);
      },
    };
    return node;
  });
  const cluster: NatsCluster = {
    nodes,
    urls: nodes.map((n) => n.url).join(','),
    node: (name) => {
      const found = nodes.find((n) => n.name === name);
      if (!found) throw new Error(`no cluster node named ${name}`);
      return found;
    },
    stop: async () => {
      await Promise.allSettled(nodes.map((n) => stopProcess(n.process)));
      await rm(root, { recursive: true, force: true });
    },
  };
  try {
    await Promise.all(nodes.map((n) => waitForPort(n.port)));
    await waitForJetStreamCluster(nodes);
  } catch (error) {
    await cluster.stop();
    throw error;
  }
  return cluster;
}

/** Waits until the JetStream meta group has a leader (before that, creating a stream fails). */
async function waitForJetStreamCluster(nodes: ClusterNode[], timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    for (const node of nodes) {
      const jsz = await fetch(`http://127.0.0.1:${node.monitorPort}/jsz`).then((r) => r.json() as Promise<{ meta_cluster?: { leader?: string } }>, () => undefined);
      if (jsz?.meta_cluster?.leader) return;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`the NATS cluster elected no JetStream meta leader within ${timeoutMs} ms`);
}
