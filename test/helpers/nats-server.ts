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
  const launch = () => spawn(natsServerBinary(), [...args, ...extraArgs], { stdio: 'ignore', env });
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

