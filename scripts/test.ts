// `npm test`: makes sure NATS and the database answer (local-infra.ts), finds the nats-server
// that tests start of their own, installs Chromium for the browser test where it can, then runs
// every test file with Node's test runner.
//
//   npm test                                   all of services/, shared/ and test/
//   npm test -- test/token-validate.test.ts    only the files named
//   npm test -- --test-name-pattern=replayed   runner options pass through
//
// Servers this starts are left running (the next run reuses them); `npm run infra -- --stop`
// stops them.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { currentNatsServer, ensureLocalInfra, InfraError, type LocalInfra } from './local-infra.ts';
import { signalGroup } from './start.ts';

const PROJECT_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const ALL_TESTS = ['services/**/*.test.ts', 'shared/**/*.test.ts', 'test/**/*.test.ts'];
// Not --test-force-exit: with more than one file at a time it loses the last verdicts a file
// reports, and the run still passes with a smaller count (nodejs/node#64833; seen here: 5 of 883
// tests missing from a CI run, and 1 to 13 of 38 in 3 of 8 runs of two config test files).
const RUNNER_OPTIONS = ['--test', '--test-concurrency=2', '--test-timeout=120000'];
// What --test-force-exit was for instead: a test file that leaves a handle open (a leak its own
// teardown should have closed) keeps its process, and so the run, from ending. The whole suite
// takes about 5 minutes; past this deadline the run is stopped and fails, well inside CI's 90.
const RUN_DEADLINE_MS = 30 * 60_000;
const CHROMIUM = '/usr/bin/chromium';

/**
 * Node's runner arguments: options first, then the files named, or every test file.
 * Options that take a value must be written --name=value.
 */
export function testRunnerArgs(extra: readonly string[]): string[] {
  const options = extra.filter((arg) => arg.startsWith('-'));
  const files = extra.filter((arg) => !arg.startsWith('-'));
  return [...RUNNER_OPTIONS, ...options, ...(files.length > 0 ? files : ALL_TESTS)];
}

function say(line: string): void {
  process.stdout.write(`[test] ${line}\n`);
}

/** The browser test drives /usr/bin/chromium; on a Debian-like machine as root, install it. */
function ensureChromium(): void {
  if (fs.existsSync(CHROMIUM) || process.getuid?.() !== 0 || !fs.existsSync('/usr/bin/apt-get')) return;
  say('installing chromium with apt-get for the browser test (once)');
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const apt = (args: string[]) => spawnSync('apt-get', args, { stdio: ['ignore', 'ignore', 'inherit'], env }).status === 0;
  if (!(apt(['update']) && apt(['install', '-y', 'chromium']))) {
    say('warning: installing chromium failed; the browser test will not run');
  }
}

/**
 * The nats-server that tests start of their own (private servers, the three-node cluster): the one
 * `npm start` gives a new user (≥ 2.10, installed once with Go where none is found), as the
 * benchmark runs, so the cluster's failovers are those of the NATS users deploy (the compose files
 * pin 2.12), not of an older server on PATH (Debian's 2.9.10 on the CI machine).
 */
async function privateNatsServer(): Promise<string | undefined> {
  if (process.env.NATS_SERVER_BIN) return process.env.NATS_SERVER_BIN;
  try {
    return await currentNatsServer({ log: say });
  } catch (error) {
    if (!(error instanceof InfraError)) throw error;
    say(`warning: ${error.message.split('\n')[0]}; tests start the nats-server on PATH`);
    return undefined;
  }
}

async function main(): Promise<void> {
  let infra: LocalInfra;
  try {
    infra = await ensureLocalInfra();
  } catch (error) {
    process.stderr.write(`[test] ${error instanceof InfraError ? error.message : (error as Error).stack}\n`);
    process.exit(1);
  }
  const natsServer = await privateNatsServer();
  ensureChromium();

  const env = {
    ...process.env,
    ...(natsServer ? { NATS_SERVER_BIN: natsServer } : {}),
    NATS_URL: infra.natsUrl,
    MONGODB_URI: infra.mongodbUri,
    OAUTH_TEST_NATS_URL: infra.natsUrl,
    OAUTH_TEST_MONGODB_URI: infra.mongodbUri,
  };
  // process.execPath: the Node 24 that runs this script, whatever `node` is on PATH. The runner
  // leads a process group of its own (with every test file's process), so that a run past its
  // deadline is stopped whole; signals sent to us are passed on to that group.
  const runner = spawn(process.execPath, testRunnerArgs(process.argv.slice(2)), { cwd: PROJECT_DIR, env, stdio: 'inherit', detached: true });
  const signalRun = (signal: NodeJS.Signals) => signalGroup(runner, signal);
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => signalRun(signal));
  const deadlineMs = runDeadlineMs(process.env);
  const deadline = setTimeout(() => {
    process.stderr.write(`[test] the run did not end within ${Math.round(deadlineMs / 1000)} s: a test file left something running that its teardown should close; stopping it\n`);
    signalRun('SIGKILL');
    process.exit(1);
  }, deadlineMs);
  runner.once('error', (error) => {
    process.stderr.write(`[test] could not run the test runner: ${error.message}\n`);
    process.exit(1);
  });
  runner.once('exit', (code, signal) => {
    clearTimeout(deadline);
    process.exit(code ?? 128 + (signal ? os.constants.signals[signal] : 0));
  });
}

/** RUN_DEADLINE_MS, or TEST_RUN_DEADLINE_MS where set (the test of the deadline itself uses a short one). */
export function runDeadlineMs(env: NodeJS.ProcessEnv): number {
  const ms = Number(env.TEST_RUN_DEADLINE_MS);
  return Number.isInteger(ms) && ms > 0 ? ms : RUN_DEADLINE_MS;
}

if (import.meta.main) {
  main().catch((error: Error) => {
    process.stderr.write(`[test] ${error.stack}\n`);
    process.exit(1);
  });
}
