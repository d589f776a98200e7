// Closed-loop load: `concurrency` workers each run one operation after another until the time is
// up. The rate counts operations completed within the window; operations still running at the
// deadline finish, and their latencies count (they started within it), so a window shorter than
// one operation still yields latencies.
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';

export type LoadResult = {
  concurrency: number;
  seconds: number;
  ops: number;
  /** Operations completed in all, those that ended after the deadline included (for per-operation database counts). */
  completed: number;
  opsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  errors: number;
  firstError: string | undefined;
  /**
   * The 99th percentile of the load generator's own event-loop stalls (beyond the 1 ms timer it
   * is sampled with): a stall of the generator delays every operation in flight, so a p99 latency
   * near this figure is the instrument's, not the target's.
   */
  generatorStallP99Ms: number;
};

export async function runLoad<W>(
  workers: readonly W[],
  seconds: number,
  operation: (worker: W, index: number) => Promise<void>,
): Promise<LoadResult> {
  const latencies: number[] = [];
  let errors = 0;
  let inWindow = 0;
  let firstError: string | undefined;
  const stalls = monitorEventLoopDelay({ resolution: 1 });
  stalls.enable();
  const started = performance.now();
  const end = started + seconds * 1000;
  await Promise.all(workers.map(async (worker, index) => {
    while (performance.now() < end) {
      const t0 = performance.now();
      try {
        await operation(worker, index);
        const t1 = performance.now();
        latencies.push(t1 - t0);
        if (t1 <= end) inWindow++;
      } catch (error) {
        errors++;
        firstError ??= (error as Error).message;
        // A failing target should not turn the loop into a busy spin.
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    }
  }));
  const elapsed = Math.min(performance.now(), end) - started;
  stalls.disable();
  latencies.sort((a, b) => a - b);
  return {
    concurrency: workers.length,
    seconds: round(elapsed / 1000, 2),
    ops: inWindow,
    completed: latencies.length,
    opsPerSecond: round(inWindow / (elapsed / 1000), 1),
    p50Ms: round(percentile(latencies, 0.5), 2),
    p99Ms: round(percentile(latencies, 0.99), 2),
    errors,
    firstError,
    generatorStallP99Ms: round(Math.max(0, stalls.percentile(99) / 1e6 - 1), 2),
  };
}

/** Nearest-rank percentile of sorted values (NaN when there are none). */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)]!;
}

export const round = (value: number, digits: number): number => Number(value.toFixed(digits));
