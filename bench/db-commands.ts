// Database commands per operation: every service started by the benchmark counts the commands its
// MongoDB driver sends (BENCH_COUNT_DB_COMMANDS=1 → mongodb_commands_total{command} on /metrics);
// the benchmark reads every /metrics before and after a scenario and divides the difference.
import { request } from './http.ts';

/** Command name → count, per service. */
export type CommandCounts = Map<string, Map<string, number>>;

const LINE = /^mongodb_commands_total\{([^}]*)\}\s+([0-9.eE+-]+)$/;

/** Parses mongodb_commands_total samples from a Prometheus text exposition. */
export function parseCommandCounts(text: string): Map<string, number> {
  const counts = new Map<string, number>();
  for (const line of text.split('\n')) {
    const match = LINE.exec(line.trim());
    if (!match) continue;
    const command = /(?:^|,)command="([^"]*)"/.exec(match[1]!)?.[1];
    if (command !== undefined) counts.set(command, (counts.get(command) ?? 0) + Number(match[2]));
  }
  return counts;
}

/** Reads every service's /metrics (service → its text); a service whose /metrics does not answer is left out. */
export async function readMetricsTexts(metricsUrls: ReadonlyMap<string, string>): Promise<Map<string, string>> {
  const texts = new Map<string, string>();
  await Promise.all([...metricsUrls].map(async ([service, url]) => {
    try {
      const response = await request(url);
      if (response.status === 200) texts.set(service, response.body);
    } catch {
      // not reachable from here (e.g. behind an edge proxy that does not route /metrics)
    }
  }));
  return texts;
}

/** The command counters of every service that counts them. */
export function commandCounts(texts: ReadonlyMap<string, string>): CommandCounts {
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
