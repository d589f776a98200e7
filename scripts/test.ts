// `npm test`: makes sure NATS and the database answer (local-infra.ts), installs Chromium for
// the browser test where it can, then runs every test file with Node's test runner.
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
import { ensureLocalInfra, InfraError, type LocalInfra } from './local-infra.ts';

const PROJECT_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const ALL_TESTS = ['services/**/*.test.ts', 'shared/**/*.test.ts', 'test/**/*.test.ts'];
// --test-force-exit: a test file whose tests have all finished ends even if something it started
// left a handle open (a leak the file's own teardown should have closed); without it the whole
// run would wait forever, with no test timeout to end it.
const RUNNER_OPTIONS = ['--test', '--test-concurrency=2', '--test-timeout=120000', '--test-force-exit'];
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

async function main(): Promise<void> {
  let infra: LocalInfra;
  try {
    infra = await ensureLocalInfra();
  } catch (error) {
    process.stderr.write(`[test] ${error instanceof InfraError ? error.message : (error as Error).stack}\n`);
    process.exit(1);
  }
  ensureChromium();

  const env = {
    ...process.env,
    NATS_URL: infra.natsUrl,
    MONGODB_URI: infra.mongodbUri,
    OAUTH_TEST_NATS_URL: infra.natsUrl,
    OAUTH_TEST_MONGODB_URI: infra.mongodbUri,
  };
  // process.execPath: the Node 24 that runs this script, whatever `node` is on PATH.
  const runner = spawn(process.execPath, testRunnerArgs(process.argv.slice(2)), { cwd: PROJECT_DIR, env, stdio: 'inherit' });
  // A terminal's Ctrl-C reaches the runner too; a SIGTERM sent to us alone is passed on.
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => runner.kill(signal));
  runner.once('error', (error) => {
    process.stderr.write(`[test] could not run the test runner: ${error.message}\n`);
    process.exit(1);
  });
  runner.once('exit', (code, signal) => process.exit(code ?? 128 + (signal ? os.constants.signals[signal] : 0)));
}

if (import.meta.main) {
  main().catch((error: Error) => {
    process.stderr.write(`[test] ${error.stack}\n`);
    process.exit(1);
  });
}
