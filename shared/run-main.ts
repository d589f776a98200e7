// Runs a service as a process: start it, and on SIGTERM/SIGINT stop it within a bounded time.
import { ConfigError } from '#shared/config.ts';

export type Running = { stop(): Promise<void> };

/**
 * Loads the configuration (a ConfigError is one line and exit 78), starts, and on the first
 * SIGTERM/SIGINT stops (the service's own order: not ready at once, requests in flight finished)
 * and exits, within SHUTDOWN_TIMEOUT_MS; a signal during start stops the service once it is up.
 */
export function runMain<C extends { SHUTDOWN_TIMEOUT_MS: number }>(name: string, loadConfig: () => C, start: (config: C) => Promise<Running>): void {
  let config: C | undefined;
  let signalled: string | undefined;
  // eslint-disable-next-line prefer-const -- assigned once start is called, after the handlers exist
  let started: Promise<Running> | undefined;
  const onSignal = (signal: string) => {
    if (signalled) return;
    signalled = signal;
    const timer = setTimeout(() => {
      process.stderr.write(`${name}: shutdown did not finish in time after ${signal}; exiting\n`);
      process.exit(1);
    }, config?.SHUTDOWN_TIMEOUT_MS ?? 10_000);
    timer.unref();
    // Before start was called (the configuration is loading) there is nothing to stop.
    if (!started) process.exit(0);
    void started.then((running) => stopAndExit(name, running), () => undefined);
  };
  process.once('SIGTERM', () => onSignal('SIGTERM'));
  process.once('SIGINT', () => onSignal('SIGINT'));
  started = Promise.resolve().then(() => start((config = loadConfig())));
  started.catch((error: Error) => {
    // A configuration error is one line naming the variable; anything else names the cause.
    if (error instanceof ConfigError) process.stderr.write(`${name}: ${error.message}\n`);
    else process.stderr.write(`${name}: failed to start: ${error.message}\n`);
    process.exit(error instanceof ConfigError ? 78 : 1);
  });
}

async function stopAndExit(name: string, running: Running): Promise<void> {
  try {
    await running.stop();
    process.exit(0);
  } catch (error) {
    process.stderr.write(`${name}: error during shutdown: ${(error as Error).message}\n`);
    process.exit(1);
  }
}
