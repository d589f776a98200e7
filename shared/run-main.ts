// Runs a service as a process: start it, and on SIGTERM/SIGINT stop it within a bounded time.
import { ConfigError } from '#shared/config.ts';

export type Running = { stop(): Promise<void> };

/** Loads the configuration (a ConfigError is one line and exit 78), starts, and stops within SHUTDOWN_TIMEOUT_MS. */
export function runMain<C extends { SHUTDOWN_TIMEOUT_MS: number }>(name: string, loadConfig: () => C, start: (config: C) => Promise<Running>): void {
  let config: C | undefined;
  const shutdownTimeoutMs = () => config?.SHUTDOWN_TIMEOUT_MS ?? 10_000;
  let running: Running | undefined;
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    const timer = setTimeout(() => {
      process.stderr.write(`${name}: shutdown did not finish in time after ${signal}; exiting\n`);
      process.exit(1);
    }, shutdownTimeoutMs());
    timer.unref();
    try {
      await running?.stop();
      process.exit(0);
    } catch (error) {
      process.stderr.write(`${name}: error during shutdown: ${(error as Error).message}\n`);
      process.exit(1);
    }
  };
  process.once('SIGTERM', () => void stop('SIGTERM'));
  process.once('SIGINT', () => void stop('SIGINT'));
  Promise.resolve().then(() => start((config = loadConfig()))).then(
    (r) => {
      running = r;
      if (stopping) void r.stop();
    },
    (error: Error) => {
      // A configuration error is one line naming the variable; anything else names the cause.
      if (error instanceof ConfigError) process.stderr.write(`${name}: ${error.message}\n`);
      else process.stderr.write(`${name}: failed to start: ${error.message}\n`);
      process.exit(error instanceof ConfigError ? 78 : 1);
    },
  );
}
