// Summarises V8 CPU profiles (`npm run bench -- --cpu-prof` writes one per service): the functions
// with the most self time, and the most inclusive time by package or project file.
//
//   node bench/profile-summary.ts bench/results/profiles-<stamp>/token-service.cpuprofile [--top 25] [--skip 5]
//
// --skip N leaves out the first N seconds of the profile (start-up: module loading, connecting).
import fs from 'node:fs';
import { parseArgs } from 'node:util';

type CallFrame = { functionName: string; url: string; lineNumber: number };
type ProfileNode = { id: number; callFrame: CallFrame; hitCount?: number; children?: number[] };
type Profile = { nodes: ProfileNode[]; startTime: number; endTime: number; samples?: number[]; timeDeltas?: number[] };

/** Hit counts per node from the samples taken after `skipSeconds` (all of them when 0). */
function hitsAfter(profile: Profile, skipSeconds: number): { hits: Map<number, number>; ms: number } {
  const hits = new Map<number, number>();
  const { samples = [], timeDeltas = [] } = profile;
  if (skipSeconds <= 0 || samples.length === 0) {
    for (const n of profile.nodes) hits.set(n.id, n.hitCount ?? 0);
    return { hits, ms: (profile.endTime - profile.startTime) / 1000 };
  }
  let t = 0;
  let first: number | undefined;
  for (let i = 0; i < samples.length; i++) {
    t += timeDeltas[i] ?? 0;
    if (t < skipSeconds * 1e6) continue;
    first ??= t;
    hits.set(samples[i]!, (hits.get(samples[i]!) ?? 0) + 1);
  }
  return { hits, ms: first === undefined ? 0 : (t - first) / 1000 };
}

export type Summary = {
  totalMs: number;
  idleMs: number;
  selfTop: { name: string; ms: number; share: number }[];
  inclusiveByModule: { module: string; ms: number; share: number }[];
};

/** Where a frame's code lives: an npm package, a project file, or the runtime. */
export function moduleOf(url: string): string {
  if (url === '') return '(runtime)';
  const nm = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (nm) return nm[1]!;
  if (url.startsWith('node:')) return url;
  const project = /\/(services|shared|bench|scripts)\/(.*)$/.exec(url);
  return project ? `${project[1]}/${project[2]}` : url;
}

export function summarise(profile: Profile, top = 25, skipSeconds = 0): Summary {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const window = hitsAfter(profile, skipSeconds);
  const hitCount = (n: ProfileNode) => window.hits.get(n.id) ?? 0;
  const totalSamples = profile.nodes.reduce((sum, n) => sum + hitCount(n), 0) || 1;
  const msPerSample = window.ms / totalSamples;
  const self = new Map<string, number>();
  const inclusive = new Map<string, number>();
  let idle = 0;
  for (const n of profile.nodes) {
    const hits = hitCount(n);
    if (hits === 0) continue;
    const name = n.callFrame.functionName || '(anonymous)';
    if (name === '(idle)') {
      idle += hits;
      continue;
    }
    const key = `${name} ${moduleOf(n.callFrame.url)}:${n.callFrame.lineNumber + 1}`;
    self.set(key, (self.get(key) ?? 0) + hits);
    // Each sample counts once for every module on its stack.
    const seen = new Set<string>();
    for (let id: number | undefined = n.id; id !== undefined; id = parent.get(id)) {
      const frame = byId.get(id)!.callFrame;
      if (frame.functionName === '(root)') continue;
      seen.add(moduleOf(frame.url));
    }
    for (const m of seen) inclusive.set(m, (inclusive.get(m) ?? 0) + hits);
  }
  const busy = totalSamples - idle || 1;
  const rows = <K extends string>(map: Map<string, number>, key: K) => [...map]
    .sort((a, b) => b[1] - a[1]).slice(0, top)
    .map(([k, hits]) => ({
      [key]: k,
      ms: Math.round(hits * msPerSample),
      share: Number((hits / busy).toFixed(3)),
    }) as Record<K, string> & { ms: number; share: number });
  return {
    totalMs: Math.round(totalSamples * msPerSample),
    idleMs: Math.round(idle * msPerSample),
    selfTop: rows(self, 'name'),
    inclusiveByModule: rows(inclusive, 'module'),
  };
}

if (import.meta.main) {
  const { values, positionals } = parseArgs({ options: { top: { type: 'string', default: '25' }, skip: { type: 'string', default: '0' } }, allowPositionals: true });
  for (const file of positionals) {
    const summary = summarise(JSON.parse(fs.readFileSync(file, 'utf8')) as Profile, Number(values.top), Number(values.skip));
    process.stdout.write(`\n${file}: ${summary.totalMs} ms sampled, ${summary.idleMs} ms idle\n  self time (share of busy time):\n`);
    for (const r of summary.selfTop) process.stdout.write(`  ${(r.share * 100).toFixed(1).padStart(5)}%  ${String(r.ms).padStart(6)} ms  ${r.name}\n`);
    process.stdout.write('  inclusive, by module:\n');
    for (const r of summary.inclusiveByModule) process.stdout.write(`  ${(r.share * 100).toFixed(1).padStart(5)}%  ${String(r.ms).padStart(6)} ms  ${r.module}\n`);
  }
}
