// A FerretDB process of a test's own (SQLite backend in a temporary folder, a free loopback port),
// for tests that take the database away and bring it back. kill() leaves the data folder and the
// port as they were, so start() brings the same database back on the same address.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, waitForPort } from './ports.ts';

export type PrivateFerretDb = {
  port: number;
  /** A MongoDB URI for database `name` on this server. */
  uri(name: string): string;
  /** Ends the process with `signal` (SIGKILL by default) and waits for it to exit. */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** Starts it again on the same port and data folder. */
  start(): Promise<void>;
  /** Ends it and removes its data folder. */
  stop(): Promise<void>;
};

const projectBinary = fileURLToPath(new URL('../../.data/bin/ferretdb', import.meta.url));

/** The project's FerretDB (installed by scripts/local-infra.ts where no mongod is), if there is one. */
export const ferretDbBinary = (): string | undefined => process.env.FERRETDB_BIN ?? (existsSync(projectBinary) ? projectBinary : undefined);

export async function startPrivateFerretDb(): Promise<PrivateFerretDb> {
  const binary = ferretDbBinary();
  if (!binary) throw new Error('no FerretDB binary (.data/bin/ferretdb or FERRETDB_BIN)');
  const port = await freePort();
  const dir = await mkdtemp(join(tmpdir(), 'oauth-test-ferretdb-'));
  const launch = () => spawn(binary, [
    '--handler=sqlite', `--sqlite-url=file:${dir}/`, `--listen-addr=127.0.0.1:${port}`,
    '--telemetry=disable', '--debug-addr=127.0.0.1:0', `--state-dir=${dir}`, '--log-level=error',
  ], { stdio: 'ignore' });
  let child: ChildProcess = launch();
  const kill = async (signal: NodeJS.Signals = 'SIGKILL') => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill(signal);
    await exited;
  };
  await waitForPort(port);
  return {
    port,
    uri: (name) => `mongodb://127.0.0.1:${port}/${name}`,
    kill,
    start: async () => {
      child = launch();
      await waitForPort(port);
    },
    stop: async () => {
      await kill('SIGKILL');
      await rm(dir, { recursive: true, force: true });
    },
  };
}

export { waitForPort };
