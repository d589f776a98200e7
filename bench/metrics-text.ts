// The services' /metrics as the benchmark reads them: fetched once before and once after each
// scenario, and parsed by sample name (db-commands.ts, service-waits.ts).
import { request } from './http.ts';

/** service → the text of its /metrics. */
export type MetricsTexts = ReadonlyMap<string, string>;

/** One labelled metric sample: its labels and value. */
export type Sample = { labels: Record<string, string>; value: number };

const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)\{([^}]*)\}\s+([0-9.eE+-]+)$/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="([^"]*)"/g;

/** The labelled samples of `name` in a Prometheus text exposition (every service labels its samples). */
export function samplesOf(text: string, name: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    const match = SAMPLE.exec(line.trim());
    if (!match || match[1] !== name) continue;
    const labels: Record<string, string> = {};
    for (const [, key, value] of match[2]!.matchAll(LABEL)) labels[key!] = value!;
    samples.push({ labels, value: Number(match[3]) });
  }
  return samples;
}

/** Reads every service's /metrics; a service whose /metrics does not answer is left out. */
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
