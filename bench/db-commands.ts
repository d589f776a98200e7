// Database commands per operation: every service started by the benchmark counts the commands its
// MongoDB driver sends (BENCH_COUNT_DB_COMMANDS=1 → mongodb_commands_total{command} on /metrics);
// the benchmark reads every /metrics before and after a scenario and divides the difference.
import { samplesOf, type MetricsTexts } from './metrics-text.ts';

/** Command name → count, per service. */
export type CommandCounts = Map<string, Map<string, number>>;

/** Parses mongodb_commands_total samples from a Prometheus text exposition. */
export function parseCommandCounts(text: string): Map<string, number> {
  const counts = new Map<string, number>();
  for (const { labels, value } of samplesOf(text, 'mongodb_commands_total')) {
    if (labels.command !== undefined) counts.set(labels.command, (counts.get(labels.command) ?? 0) + value);
  }
  return counts;
}

/** The command counters of every service that counts them. */
export function commandCounts(texts: MetricsTexts): CommandCounts {
  const all: CommandCounts = new Map();
  for (const [service, text] of texts) if (text.includes('mongodb_commands_total')) all.set(service, parseCommandCounts(text));
  return all;
}

export type CommandDelta = {
  /** Commands of every service during the scenario, divided by its completed operations; null when no service could be read. */
  perOperation: number | null;
  /** service → command → count during the scenario. */
  byService: Record<string, Record<string, number>>;
};

export function commandDelta(before: CommandCounts, after: CommandCounts, operations: number): CommandDelta {
  const byService: Record<string, Record<string, number>> = {};
  let total = 0;
  for (const [service, counts] of after) {
    const earlier = before.get(service) ?? new Map<string, number>();
    const commands: Record<string, number> = {};
    for (const [command, count] of counts) {
      const delta = count - (earlier.get(command) ?? 0);
      if (delta > 0) {
        commands[command] = delta;
        total += delta;
      }
    }
    byService[service] = commands;
  }
  return { perOperation: after.size === 0 || operations === 0 ? null : Number((total / operations).toFixed(2)), byService };
}
