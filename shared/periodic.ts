// A background task run every `intervalMs` (never two at once), such as the sweep that removes
// expired records where the database has no TTL indexes. Failures are logged, never thrown.
import type { Logger } from '#shared/logger.ts';

export function startPeriodic(name: string, task: () => Promise<unknown>, intervalMs: number, log: Logger): { stop(): void } {
  let running = false;
  const timer = setInterval(() => {
    if (running) return;
    running = true;
    task()
      .catch((error: unknown) => log.warn({ err: error, task: name }, 'periodic task failed; will retry'))
      .finally(() => (running = false));
  }, intervalMs);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}
