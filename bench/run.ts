// `npm run bench`: measures the system on this machine (see docs/performance.md).
//
//   npm run bench                         own system on local infrastructure, then the yardstick
//                                         against the product and the reference peer
//   npm run bench -- --seconds 5 --no-peer
//   npm run bench -- --only code,validate --cpu-prof     CPU profiles of every service
//   npm run bench -- --rounds 3                          the yardstick's product and in-memory peer, three times alternately
//   npm run bench -- --issuer http://127.0.0.1:8080      a running system (its MONGODB_URI and
//                                                        NATS_URL must be set for the registration)
//
// Scenarios: 1. the signed-in code flow (authorize → code → token, with the owner's session and
// remembered consent), 2. refresh token rotation, 3. oauth.token.validate over NATS (throughput
// with 128 in flight, latency with 8, each followed by the floor under it: echo-endpoint.ts), 4. the
// full flow with sign-in, 5. client credentials (`cc`). Results: a table on stdout and JSON under
// bench/results/ (git-ignored).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { calibrate, es256SignUs, type Calibration } from './calibration.ts';
import { measureCpu, type CpuUse, type Watched } from './cpu.ts';
import { commandCounts, commandDelta, type CommandDelta } from './db-commands.ts';
import { readMetricsTexts } from './metrics-text.ts';
import { serviceWaits, type ServiceWaits } from './service-waits.ts';
import { closeConnections, request } from './http.ts';
import type { LoadResult } from './load.ts';
import {
  clientCredentials, fullFlowWithSignIn, prepareDpopWorkers, prepareWorkers, recordedValidateReply, refreshRotation, signedInCodeFlow, validateDpopOverNats,
  validateOverNats,
} from './scenarios.ts';
import { ECHO_SUBJECT, startEchoEndpoint } from './echo-endpoint.ts';
import { registerFixture, startOwnSystem, targetRunningSystem, type Fixture, type Target } from './system.ts';
import { MAX_STORED_OWNERS, storeOtherOwners } from './stored-owners.ts';
import { DEFAULT_YARDSTICK_DIR, YARDSTICK_CLIENT, runFlows, startPeer, yardstickAvailable, type YardstickPhase } from './yardstick.ts';

const PROJECT_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const CONCURRENCY = 16;
const VALIDATE_THROUGHPUT_IN_FLIGHT = 128;
const VALIDATE_LATENCY_IN_FLIGHT = 8;
const FLOOR_NAME = 'floor: echo endpoint';
const ECHO_LABEL = 'echo endpoint (bench)';

export const ScenarioKeys = ['code', 'refresh', 'cc', 'validate', 'dpop', 'signin'] as const;
export type ScenarioKey = (typeof ScenarioKeys)[number];

export type Options = {
  seconds: number;
  issuer: string | undefined;
  peer: boolean | undefined;
  cpuProf: boolean;
  only: ScenarioKey[];
  /** Other owners whose user, session and consent are stored before the scenarios (stored-owners.ts). */
  storedOwners: number;
  resultsDir: string;
  yardstickDir: string;
  /** Yardstick rounds: the product and the in-memory peer measured this many times, alternately. */
  rounds: number;
};

export class UsageError extends Error {}

const USAGE = 'usage: npm run bench -- [--seconds N] [--issuer URL] [--with-peer | --no-peer] [--cpu-prof] [--only code,refresh,cc,validate,dpop,signin] [--stored-owners N] [--results-dir DIR] [--yardstick DIR] [--rounds N]';

export function parseOptions(args: string[]): Options {
  let values;
  try {
    ({ values } = parseArgs({
      args,
      options: {
        seconds: { type: 'string', default: '15' },
        issuer: { type: 'string' },
        'with-peer': { type: 'boolean' },
        'no-peer': { type: 'boolean' },
        'cpu-prof': { type: 'boolean', default: false },
        only: { type: 'string' },
        'stored-owners': { type: 'string', default: '0' },
        'results-dir': { type: 'string', default: path.join(PROJECT_DIR, 'bench', 'results') },
        yardstick: { type: 'string', default: DEFAULT_YARDSTICK_DIR },
        rounds: { type: 'string', default: '1' },
        help: { type: 'boolean', default: false },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (error) {
    throw new UsageError(`${(error as Error).message}\n${USAGE}`);
  }
  if (values.help) throw new UsageError(USAGE);
  const seconds = Number(values.seconds);
  if (!Number.isFinite(seconds) || seconds <= 0 || seconds > 3600) throw new UsageError(`--seconds must be a number of seconds from 0 to 3600 (got ${values.seconds})`);
  if (values['with-peer'] && values['no-peer']) throw new UsageError('--with-peer and --no-peer exclude each other');
  const only = values.only === undefined ? [...ScenarioKeys] : values.only.split(',').map((s) => s.trim());
  for (const key of only) if (!(ScenarioKeys as readonly string[]).includes(key)) throw new UsageError(`--only: unknown scenario "${key}" (one of ${ScenarioKeys.join(', ')})`);
  if (values.issuer !== undefined && !/^https?:\/\/[^/]+$/.test(values.issuer)) throw new UsageError('--issuer must be an origin such as http://127.0.0.1:8080');
  const storedOwners = /^\d{1,7}$/.test(values['stored-owners']) ? Number(values['stored-owners']) : NaN;
  if (!(storedOwners <= MAX_STORED_OWNERS)) {
    throw new UsageError(`--stored-owners must be a whole number from 0 to ${MAX_STORED_OWNERS} (got ${values['stored-owners']})`);
  }
  // Stored records stay: only a database of the benchmark's own is dropped after the run.
  if (storedOwners > 0 && values.issuer !== undefined) throw new UsageError('--stored-owners writes into the database; it cannot be used with --issuer');
  if (!/^[1-9]$/.test(values.rounds)) throw new UsageError(`--rounds must be a whole number from 1 to 9 (got ${values.rounds})`);
  return {
    seconds,
    issuer: values.issuer,
    peer: values['with-peer'] ? true : values['no-peer'] ? false : undefined,
    cpuProf: values['cpu-prof'],
    only: only as ScenarioKey[],
    storedOwners,
    resultsDir: path.resolve(values['results-dir']),
    yardstickDir: values.yardstick,
    rounds: Number(values.rounds),
  };
}

/** ES256 sign, CPU µs, read just before a part of the run (a scenario, a yardstick run) or at its end. */
export type SpeedReading = { before: string; es256SignUs: number };

/** A virtual machine whose speed changed more than this within one run gets a warning beside its figures. */
const SPEED_CHANGE_WARNING = 0.2;
const SPEED_READING_PAUSE_MS = 1000;

/**
 * The readings as one line, and a warning when the slowest was more than SPEED_CHANGE_WARNING slower
 * than the fastest: parts measured at different speeds (the product's yardstick run and the peer's,
 * above all) then compare with an error of that size.
 */
export function formatSpeed(readings: readonly SpeedReading[]): string[] {
  if (readings.length === 0) return [];
  const values = readings.map((r) => r.es256SignUs);
  const change = Math.max(...values) / Math.min(...values) - 1;
  const lines = ['', `machine speed before each part (ES256 sign, µs of CPU; higher is slower): ${readings.map((r) => `${r.before} ${r.es256SignUs}`).join(' · ')}`];
  if (change > SPEED_CHANGE_WARNING) {
    lines.push(`the machine's speed changed by ${Math.round(change * 100)} % during this run: figures of parts measured at different speeds, the yardstick's ratios above all, are off by up to as much`);
  }
  return lines;
}

export type ScenarioResult = LoadResult & {
  name: string;
  /** `floor`: the echo endpoint under validate (echo-endpoint.ts), run with `validate` on the benchmark's own system. */
  key: ScenarioKey | 'floor';
  dbCommandsPerOperation: number | null;
  dbCommands: CommandDelta['byService'];
  cpu: CpuUse | undefined;
  /** Absent in results files from before 5 December. */
  waits?: ServiceWaits;
};

/** One phase: the product beside the peer in memory and, where it ran, the peer on the product's database. */
export type SideBySide = {
  phase: string; product: YardstickPhase; peer: YardstickPhase; ratio: number;
  peerOnSameDatabase?: YardstickPhase; ratioOnSameDatabase?: number;
};

/** One yardstick round: the product, then the peer in memory, measured one after the other. */
export type YardstickRound = { product: YardstickPhase[]; peer: YardstickPhase[] };

export type BenchReport = {
  startedAt: string;
  machine: {
    cpus: number; cpuModel: string; memoryGiB: number; node: string; platform: string; loadAverageAtStart: number[];
    /** CPU cost of an ES256 signature and SHA-256 throughput here: compare machines by these first. */
    calibration: Calibration;
    /** The ES256 signature's cost read again before each part of the run and at its end: the machine's speed as the run went. */
    speedDuringRun?: SpeedReading[];
  };
  database: string;
  natsServer: string;
  target: string;
  settings: {
    seconds: number; concurrency: number; validateInFlight: { throughput: number; latency: number }; storedOwners: number;
    /** LOG_LEVEL of the services the benchmark starts: info (their default) unless the environment sets it. */
    serviceLogLevel: string;
    cpuProfiles?: string;
  };
  scenarios: ScenarioResult[];
  yardstick?: {
    /** The first round's. */
    product: YardstickPhase[]; peer: YardstickPhase[];
    peerOnSameDatabase?: YardstickPhase[] | { error: string }; sideBySide: SideBySide[];
    /** Every round, with `--rounds` above 1. */
    rounds?: YardstickRound[];
  }
    | { skipped: string; error?: string };
};

/** Stops what the run started, when a signal ends it early (services, NATS and a database of our own). */
let stopOnSignal: (() => Promise<void>) | undefined;

const say = (line: string) => process.stdout.write(`[bench] ${line}\n`);

export async function runBench(options: Options): Promise<{ report: BenchReport; file: string }> {
  const startedAt = new Date();
  const stamp = startedAt.toISOString().replace(/[:.]/g, '-').slice(0, 19);
  fs.mkdirSync(options.resultsDir, { recursive: true });
  const profileDir = options.cpuProf ? path.join(options.resultsDir, `profiles-${stamp}`) : undefined;
  if (options.cpuProf && options.issuer) throw new UsageError('--cpu-prof profiles the services the benchmark starts; it cannot be used with --issuer');
  const withPeer = options.peer ?? yardstickAvailable(options.yardstickDir);
  if (withPeer && !yardstickAvailable(options.yardstickDir)) throw new UsageError(`--with-peer: no run-flows.sh and run-peer.sh in ${options.yardstickDir}`);

  const machine = {
    cpus: os.cpus().length,
    cpuModel: os.cpus()[0]?.model ?? 'unknown',
    memoryGiB: Number((os.totalmem() / 2 ** 30).toFixed(1)),
    node: process.version,
    platform: `${os.type()} ${os.release()}`,
    loadAverageAtStart: os.loadavg().map((l) => Number(l.toFixed(2))),
    calibration: await calibrate(),
    speedDuringRun: [] as SpeedReading[],
  };
  // After a second's pause, so that what the last part left running (a peer exiting) has ended.
  const noteSpeed = async (before: string) => {
    await sleep(SPEED_READING_PAUSE_MS);
    machine.speedDuringRun.push({ before, es256SignUs: es256SignUs() });
  };
  say(`${machine.cpus} CPUs (${machine.cpuModel}), ${machine.memoryGiB} GiB, Node ${machine.node}, load average ${machine.loadAverageAtStart.join(' ')}; `
    + `ES256 sign ${machine.calibration.es256SignUs} µs CPU, SHA-256 ${machine.calibration.sha256MBps} MB/s, loopback round trip ${machine.calibration.loopbackRoundTripUs} µs CPU (${machine.calibration.crossThreadRoundTripUs} µs to another thread)`);

  const target: Target = options.issuer
    ? await targetRunningSystem(options.issuer, process.env)
    : await startOwnSystem({
      log: say,
      nodeArgs: profileDir ? (service) => ['--cpu-prof', `--cpu-prof-dir=${profileDir}`, `--cpu-prof-name=${service}.cpuprofile`] : undefined,
    });
  const report: BenchReport = {
    startedAt: startedAt.toISOString(),
    machine,
    database: target.database,
    natsServer: target.nc.info?.version ?? 'unknown',
    target: options.issuer ? `running system at ${options.issuer}` : `own system at ${target.issuer} (services as child processes, private nats-server)`,
    settings: {
      seconds: options.seconds,
      concurrency: CONCURRENCY,
      validateInFlight: { throughput: VALIDATE_THROUGHPUT_IN_FLIGHT, latency: VALIDATE_LATENCY_IN_FLIGHT },
      storedOwners: options.storedOwners,
      serviceLogLevel: options.issuer ? 'the running system\'s' : process.env.LOG_LEVEL || 'info',
      ...(profileDir ? { cpuProfiles: profileDir } : {}),
    },
    scenarios: [],
  };
  stopOnSignal = () => target.stop();
  say(`database: ${target.database}; system: ${report.target}`);
  try {
    if (options.storedOwners > 0) {
      await storeOtherOwners(target.db, options.storedOwners);
      say(`stored a user, a session and a consent of ${options.storedOwners} other owners`);
    }
    const fixture = await registerFixture(target, CONCURRENCY, say);
    const workers = await prepareWorkers(fixture);
    say(`${workers.length} owners signed in with a remembered consent`);
    await learnConsentUi(target, fixture);

    const measure = async (key: ScenarioKey | 'floor', name: string, run: () => Promise<LoadResult>, alsoWatched: Watched[] = []) => {
      await noteSpeed(name);
      say(`${name}: ${options.seconds} s …`);
      const before = await readMetricsTexts(target.metricsUrls);
      const { result, cpu } = await measureCpu([...target.processes, ...alsoWatched], target.processGroups, run);
      const after = await readMetricsTexts(target.metricsUrls);
      const db = commandDelta(commandCounts(before), commandCounts(after), result.completed);
      const waits = serviceWaits(before, after, result.seconds);
      report.scenarios.push({ name, key, ...result, dbCommandsPerOperation: db.perOperation, dbCommands: db.byService, cpu, waits });
    };
    const s = options.seconds;
    if (options.only.includes('code')) await measure('code', 'code flow, signed in', () => signedInCodeFlow(fixture, workers, s));
    if (options.only.includes('refresh')) await measure('refresh', 'refresh rotation', () => refreshRotation(fixture, workers, s));
    if (options.only.includes('cc')) await measure('cc', 'client credentials', () => clientCredentials(fixture, workers, s));
    if (options.only.includes('validate')) {
      // Each validate scenario is followed by its floor. Only on our own nats-server: a running
      // system's NATS grants the benchmark no subject of its own.
      const echo = options.issuer ? undefined : await startEchoEndpoint(target.natsUrl, await recordedValidateReply(fixture, workers));
      try {
        for (const inFlight of [VALIDATE_THROUGHPUT_IN_FLIGHT, VALIDATE_LATENCY_IN_FLIGHT]) {
          await measure('validate', `validate, ${inFlight} in flight`, () => validateOverNats(fixture, workers, inFlight, s));
          if (echo) {
            await measure('floor', `${FLOOR_NAME}, ${inFlight} in flight`,
              () => validateOverNats(fixture, workers, inFlight, s, ECHO_SUBJECT), [{ label: ECHO_LABEL, pid: echo.pid }]);
          }
        }
      } finally {
        await echo?.stop();
      }
    }
    if (options.only.includes('dpop')) {
      // Proofs signed ahead: a generous guess of what the run will use (the rest are signed as needed).
      const dpopWorkers = await prepareDpopWorkers(fixture, workers, Math.min(200_000, s * 8000));
      await measure('dpop', `validate with DPoP proof, ${VALIDATE_THROUGHPUT_IN_FLIGHT} in flight`,
        () => validateDpopOverNats(fixture, dpopWorkers, VALIDATE_THROUGHPUT_IN_FLIGHT, s));
    }
    if (options.only.includes('signin')) await measure('signin', 'full flow with sign-in', () => fullFlowWithSignIn(fixture, workers, s));

    if (!withPeer) {
      report.yardstick = { skipped: options.peer === false ? '--no-peer' : `no yardstick in ${options.yardstickDir}` };
    } else {
      try {
        report.yardstick = await sideBySide(options, fixture, target, noteSpeed);
      } catch (error) {
        // The product's figures above still stand; the run is marked failed (exit 1) below.
        report.yardstick = { skipped: 'failed', error: (error as Error).message };
      }
    }
    await noteSpeed('end');
  } finally {
    say('stopping');
    stopOnSignal = undefined;
    await target.stop();
    closeConnections();
  }
  const file = path.join(options.resultsDir, `bench-${stamp}.json`);
  fs.writeFileSync(file, `${JSON.stringify(report, null, 2)}\n`);
  return { report, file };
}

/** consent-ui's /metrics, for a running system: its origin is where the authorization endpoint sends the browser. */
async function learnConsentUi(target: Target, fixture: Fixture): Promise<void> {
  const url = new URL(fixture.meta.authorization_endpoint);
  url.search = new URLSearchParams({ response_type: 'code', client_id: fixture.clientId, redirect_uri: fixture.redirectUri, scope: fixture.scope, state: 'x' }).toString();
  const location = (await request(url.toString())).headers.location;
  if (!location) return;
  const origin = new URL(location, url).origin;
  if (![...target.metricsUrls.values()].some((u) => u.startsWith(`${origin}/`))) target.metricsUrls.set(origin, `${origin}/metrics`);
}

/**
 * The yardstick against the product, then the peer in memory (`--rounds` times, alternately), then
 * the peer on the product's database server, on the same Node.
 */
async function sideBySide(
  options: Options, fixture: Fixture, target: Target, noteSpeed: (before: string) => Promise<void>,
): Promise<NonNullable<BenchReport['yardstick']>> {
  const user = fixture.users[0]!;
  const rounds: YardstickRound[] = [];
  for (let round = 1; round <= options.rounds; round++) {
    const ofRound = roundSuffix(round, options.rounds);
    await noteSpeed(yardstickPart('product', round, options.rounds));
    say(`yardstick against the product${ofRound}: run-flows.sh, ${CONCURRENCY} workers, ${options.seconds} s per phase …`);
    const product = await runFlows(options.yardstickDir, {
      issuer: fixture.issuer, client: fixture.clientId, secret: fixture.clientSecret, redirect: fixture.redirectUri,
      scope: fixture.scope, user: user.username, password: user.password,
    }, options.seconds, CONCURRENCY, { processes: () => target.processes, groups: target.processGroups, metrics: () => readMetricsTexts(target.metricsUrls) });
    await noteSpeed(yardstickPart('peer', round, options.rounds));
    say(`starting the reference peer (run-peer.sh, in memory${ofRound}) …`);
    rounds.push({ product, peer: await measurePeer(options) });
  }
  let sameDatabase: YardstickPhase[] | { error: string };
  try {
    await noteSpeed('yardstick: peer on db');
    say(`starting the reference peer on the product's database server (${target.database}) …`);
    sameDatabase = await measurePeer(options, { mongodbUri: target.peerDatabaseUri, processes: target.databaseProcesses, groups: target.processGroups });
  } catch (error) {
    // The peer on FerretDB is the slower, optional comparison: its failure leaves the rest standing.
    sameDatabase = { error: (error as Error).message };
  } finally {
    await target.db.client.db(new URL(target.peerDatabaseUri).pathname.slice(1)).dropDatabase().catch(() => undefined);
  }
  const { product, peer } = rounds[0]!;
  const rows: SideBySide[] = [];
  for (const mine of product) {
    const theirs = peer.find((p) => p.phase === mine.phase);
    const onDb = Array.isArray(sameDatabase) ? sameDatabase.find((p) => p.phase === mine.phase) : undefined;
    if (!theirs) continue;
    const onSameDatabase = onDb ? { peerOnSameDatabase: onDb, ratioOnSameDatabase: ratio(mine, onDb) } : {};
    rows.push({ phase: mine.phase, product: mine, peer: theirs, ratio: ratio(mine, theirs), ...onSameDatabase });
  }
  return { product, peer, peerOnSameDatabase: sameDatabase, sideBySide: rows, ...(rounds.length > 1 ? { rounds } : {}) };
}

const ratio = (mine: YardstickPhase, theirs: YardstickPhase) => Number((mine.ops_per_s / theirs.ops_per_s).toFixed(2));

const roundSuffix = (round: number, rounds: number): string => (rounds > 1 ? `, round ${round} of ${rounds}` : '');

/** The name of the speed reading taken before the product's or the peer's part of a yardstick round. */
const yardstickPart = (who: 'product' | 'peer', round: number, rounds: number): string => `yardstick: ${who}${roundSuffix(round, rounds)}`;

/** Each round's speed readings as a table cell, and whether the two differ by more than SPEED_CHANGE_WARNING. */
function roundSpeeds(rounds: number, speed: readonly SpeedReading[]): { cell: string; uneven: boolean }[] {
  const before = (who: 'product' | 'peer', round: number) => speed.find((r) => r.before === yardstickPart(who, round, rounds))?.es256SignUs;
  return Array.from({ length: rounds }, (_, i) => {
    const [product, peer] = [before('product', i + 1), before('peer', i + 1)];
    if (product === undefined || peer === undefined) return { cell: '–', uneven: false };
    return { cell: `${product} / ${peer}`, uneven: Math.max(product, peer) / Math.min(product, peer) - 1 > SPEED_CHANGE_WARNING };
  });
}

/**
 * Each round's ratio per phase, and their range and median. The machine's speed can change between
 * the product's run and the peer's; rounds taken alternately show that as spread, not as a ratio,
 * and the speed read before each side's part shows which way a round's ratio leans.
 */
export function formatRounds(rounds: readonly YardstickRound[] | undefined, speed: readonly SpeedReading[] = []): string[] {
  if (!rounds || rounds.length < 2) return [];
  const rows: string[][] = [];
  const summaries: string[] = [];
  const speeds = roundSpeeds(rounds.length, speed);
  for (const phase of rounds[0]!.product.map((p) => p.phase)) {
    const ratios: number[] = [];
    rounds.forEach((round, i) => {
      const mine = round.product.find((p) => p.phase === phase);
      const theirs = round.peer.find((p) => p.phase === phase);
      if (!mine || !theirs) return;
      ratios.push(ratio(mine, theirs));
      rows.push([phase, String(i + 1), mine.ops_per_s.toFixed(1), theirs.ops_per_s.toFixed(1), `${ratio(mine, theirs).toFixed(2)}x`, speeds[i]!.cell]);
    });
    if (ratios.length === 0) continue;
    const sorted = [...ratios].sort((a, b) => a - b);
    const mid = sorted.length / 2;
    const median = sorted.length % 2 ? sorted[Math.floor(mid)]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
    summaries.push(`${phase}: product/peer ${sorted[0]!.toFixed(2)}–${sorted.at(-1)!.toFixed(2)}x over ${ratios.length} rounds, median ${median.toFixed(2)}x`);
  }
  const unevenRounds = speeds.flatMap((s, i) => (s.uneven ? [i + 1] : []));
  if (unevenRounds.length > 0) {
    summaries.push(`the speed read before the product's part and before the peer's differs by more than ${SPEED_CHANGE_WARNING * 100} % in round${unevenRounds.length > 1 ? 's' : ''} ${unevenRounds.join(', ')}: `
      + 'such a round\'s ratio leans toward the side measured on the faster machine (the lower reading)');
  }
  return ['', `yardstick rounds: the product and the in-memory peer measured alternately, so that a change of the machine's speed between them shows as spread:`,
    ...table(['phase', 'round', 'product ops/s', 'peer ops/s', 'product/peer', 'ES256 µs before product / peer'], rows), ...summaries];
}

/** The peer in memory, or on the product's database server (whose processes are then watched too). */
async function measurePeer(options: Options, onDatabase?: { mongodbUri: string; processes: Watched[]; groups: readonly string[] }): Promise<YardstickPhase[]> {
  const peer = await startPeer(options.yardstickDir, onDatabase?.mongodbUri);
  try {
    say(`yardstick against the peer${onDatabase ? ' on the same database' : ''}: ${options.seconds} s per phase …`);
    return await runFlows(options.yardstickDir, peer.target, options.seconds, CONCURRENCY, {
      processes: () => [...peer.processes(), ...(onDatabase?.processes ?? [])], groups: onDatabase?.groups,
    });
  } finally {
    await peer.stop();
  }
}

export function formatReport(report: BenchReport): string {
  const lines: string[] = [];
  const { machine } = report;
  lines.push(`machine: ${machine.cpus} CPUs (${machine.cpuModel}), ${machine.memoryGiB} GiB, Node ${machine.node}; `
    + `ES256 sign ${machine.calibration.es256SignUs} µs CPU, SHA-256 ${machine.calibration.sha256MBps} MB/s, loopback round trip ${machine.calibration.loopbackRoundTripUs} µs CPU (${machine.calibration.crossThreadRoundTripUs} µs to another thread); database: ${report.database}; nats-server ${report.natsServer}`
    + (report.settings.storedOwners > 0 ? `; ${report.settings.storedOwners} other owners stored (user, session, consent)` : '')
    + `; services' LOG_LEVEL ${report.settings.serviceLogLevel ?? 'warn (before 3 December)'}`);
  const header = ['scenario', 'in flight', 'ops/s', 'p50 ms', 'p99 ms', 'generator stall p99 ms', 'errors', 'db cmds/op'];
  const rows = report.scenarios.map((s) => [
    s.name, String(s.concurrency), s.opsPerSecond.toFixed(1), s.p50Ms.toFixed(2), s.p99Ms.toFixed(2), s.generatorStallP99Ms.toFixed(2), String(s.errors),
    s.dbCommandsPerOperation === null ? 'n/a' : s.dbCommandsPerOperation.toFixed(2),
  ]);
  lines.push(...table(header, rows));
  for (const s of report.scenarios) if (s.firstError) lines.push(`  ${s.name}: first error: ${s.firstError}`);
  lines.push(...formatFloor(report.scenarios));
  if (report.scenarios.some((s) => s.cpu)) {
    lines.push('', 'CPU per operation (ms) by process, their total, the machine\'s busy share, CPUs used by anything else on the machine, and CPUs the hypervisor took away (steal):');
    const labels = [...new Set(report.scenarios.flatMap((s) => Object.keys(s.cpu?.msPerOperation ?? {})))];
    lines.push(...table(
      ['scenario', ...labels.map(shortLabel), 'total', 'busy', 'elsewhere', 'stolen'],
      report.scenarios.map((s) => [
        s.name,
        ...labels.map((l) => (s.cpu?.msPerOperation[l] ?? 0).toFixed(2)),
        s.cpu ? totalCpuMs(s.cpu).toFixed(2) : 'n/a',
        s.cpu ? `${Math.round(s.cpu.machineBusy * 100)}%` : 'n/a',
        s.cpu ? s.cpu.cpusElsewhere.toFixed(2) : 'n/a',
        s.cpu ? s.cpu.cpusStolen.toFixed(2) : 'n/a',
      ]),
    ));
    lines.push(...formatSwitches(report.scenarios.map((s) => ({ name: s.name, cpu: s.cpu }))));
  }
  const y = report.yardstick;
  lines.push(...formatWaits([...report.scenarios, ...(y && 'sideBySide' in y ? yardstickWaits(y) : [])]));
  if (y && 'sideBySide' in y) {
    lines.push('', 'yardstick (run-flows.sh, same Node, same run): product vs reference peer (oidc-provider) in memory and on the same database');
    const phase = (p: YardstickPhase | undefined) => (p ? [p.ops_per_s.toFixed(1), `${p.p50_ms}/${p.p99_ms}`, String(p.errors)] : ['–', '–', '–']);
    lines.push(...table(
      ['phase', 'product ops/s', 'p50/p99 ms', 'errors', 'peer ops/s', 'p50/p99 ms', 'errors', 'product/peer',
        'peer on db ops/s', 'p50/p99 ms', 'errors', 'product/peer on db'],
      y.sideBySide.map((r) => [
        r.phase, ...phase(r.product), ...phase(r.peer), `${r.ratio.toFixed(2)}x`,
        ...phase(r.peerOnSameDatabase), r.ratioOnSameDatabase === undefined ? '–' : `${r.ratioOnSameDatabase.toFixed(2)}x`,
      ]),
    ));
    if (y.peerOnSameDatabase && !Array.isArray(y.peerOnSameDatabase)) lines.push(`the peer on the same database failed: ${y.peerOnSameDatabase.error}`);
    lines.push(...formatRounds(y.rounds, machine.speedDuringRun));
    lines.push(...yardstickCpu(y));
    lines.push(...formatSwitches(yardstickRuns(y).map(({ who, phase, cpu }) => ({ name: `${phase.phase}, ${who}`, cpu }))));
  } else if (y) {
    lines.push('', y.error ? `yardstick failed: ${y.error}` : `yardstick skipped (${y.skipped})`);
  }
  lines.push(...formatSpeed(machine.speedDuringRun ?? []));
  return lines.join('\n');
}

/**
 * validate against the floor measured just after it, with as many in flight: what the product adds
 * to what any endpoint gets on this machine, through the same nats-server and load thread.
 */
export function formatFloor(scenarios: readonly Pick<ScenarioResult, 'key' | 'concurrency' | 'opsPerSecond' | 'p50Ms' | 'p99Ms'>[]): string[] {
  const over = (ms: number, base: number) => `${ms.toFixed(2)} ms (floor ${base.toFixed(2)}, ${ms - base >= 0 ? '+' : ''}${(ms - base).toFixed(2)})`;
  return scenarios.filter((s) => s.key === 'floor').flatMap((floor) => {
    const validate = scenarios.find((s) => s.key === 'validate' && s.concurrency === floor.concurrency);
    if (!validate) return [];
    const share = floor.opsPerSecond > 0 ? ` (${Math.round((validate.opsPerSecond / floor.opsPerSecond) * 100)} % of the floor's ${floor.opsPerSecond.toFixed(1)}/s)` : '';
    return [`validate with ${floor.concurrency} in flight beside the floor (an endpoint that only decodes the request and answers, same NATS and load thread): `
      + `${validate.opsPerSecond.toFixed(1)}/s${share}, p50 ${over(validate.p50Ms, floor.p50Ms)}, p99 ${over(validate.p99Ms, floor.p99Ms)}`];
  });
}

/** The product's yardstick phases, named for the waits table (with their round where there are several). */
function yardstickWaits(y: { product: YardstickPhase[]; rounds?: YardstickRound[] }): { name: string; waits?: ServiceWaits }[] {
  const rounds = y.rounds ?? [y];
  return rounds.flatMap((round, i) => round.product.map((p) => ({
    name: `yardstick ${p.phase}${rounds.length > 1 ? `, round ${i + 1}` : ''}`, ...(p.waits ? { waits: p.waits } : {}),
  })));
}

/**
 * What requests waited for inside the services: a writer of grouped unique inserts near 100 % busy is
 * a queue every request through it stands in (one insert in flight at a time), and an audit ack is
 * waited for before a request answers. For the scenarios, and for the product's yardstick phases
 * (whose first phase includes the yardstick client's sign-ins).
 */
export function formatWaits(scenarios: readonly { name: string; waits?: ServiceWaits }[]): string[] {
  const rows = scenarios.flatMap((s) => [
    ...(s.waits?.groupCommits ?? []).filter((g) => g.writes >= 10).map((g) => [
      s.name, g.service, `${g.collection} inserts`, `${Math.round(g.busy * 100)}%`, g.documentsPerWrite.toFixed(2), g.msPerWrite.toFixed(2),
    ]),
    ...(s.waits?.auditAcks ?? []).filter((a) => a.acks >= 10).map((a) => [s.name, a.service, 'audit event acks', '–', '–', a.meanMs.toFixed(2)]),
  ]);
  if (rows.length === 0) return [];
  return ['', 'where requests waited inside the services: grouped unique inserts (one in flight at a time per collection and service; busy: share of the scenario one was in flight; documents per insert command) and JetStream\'s acks of audit events (mean ms):',
    ...table(['scenario', 'service', 'wait', 'busy', 'docs/write', 'mean ms'], rows)];
}

/**
 * CPUs each process used in each yardstick phase (1.00: one core busy all the time), so a ratio can
 * be read against what limited each side: the peer is one Node process (one core at most), the
 * product several, and both share the machine with the yardstick's own client.
 */
function yardstickCpu(y: YardstickRuns): string[] {
  const measured = yardstickRuns(y);
  if (measured.length === 0) return [];
  const labels = [...new Set(measured.flatMap((m) => Object.keys(m.cpu.cpusByProcess)))]
    .filter((l) => measured.some((m) => (m.cpu.cpusByProcess[l] ?? 0) > 0) || l === YARDSTICK_CLIENT);
  return ['', `yardstick CPU: CPUs used by each process during each phase (1.00 = one core all the time; – where it could not be read), their total per operation, anything else on the machine, and CPUs the hypervisor took away; refresh includes the client's start and its ${CONCURRENCY} sign-ins:`, ...table(
    ['phase', 'server', ...labels.map(shortLabel), 'ms/op', 'elsewhere', 'stolen'],
    measured.map(({ who, phase, cpu }) => [
      phase.phase, who, ...labels.map((l) => cpu.cpusByProcess[l]?.toFixed(2) ?? '–'), totalCpuMs(cpu).toFixed(2), cpu.cpusElsewhere.toFixed(2), cpu.cpusStolen.toFixed(2),
    ]),
  )];
}

type YardstickRuns = { product: YardstickPhase[]; peer: YardstickPhase[]; peerOnSameDatabase?: YardstickPhase[] | { error: string } };

/** The yardstick's phases whose CPU was read, with the server each ran against. */
function yardstickRuns(y: YardstickRuns): { who: string; phase: YardstickPhase; cpu: CpuUse }[] {
  const runs: [string, YardstickPhase[]][] = [['product', y.product], ['peer', y.peer]];
  if (Array.isArray(y.peerOnSameDatabase)) runs.push(['peer on db', y.peerOnSameDatabase]);
  return runs.flatMap(([who, phases]) => phases.filter((p) => p.cpu).map((p) => ({ who, phase: p, cpu: p.cpu! })));
}

/**
 * Context switches per operation by process: each process a request crosses is woken for it (and
 * switched off again), which costs CPU that shows under the process, and on some virtual machines
 * far more than on others (docs/performance.md, 6 December); the peer is one process.
 */
function formatSwitches(rows: readonly { name: string; cpu: CpuUse | undefined }[]): string[] {
  const measured = rows.flatMap(({ name, cpu }) =>
    (cpu && Object.keys(cpu.switchesPerOperation).length > 0 ? [{ name, perOperation: cpu.switchesPerOperation }] : []));
  if (measured.length === 0) return [];
  const labels = [...new Set(measured.flatMap((r) => Object.keys(r.perOperation)))];
  return ['', 'context switches per operation by process (threads summed; a process woken for a request and put off the CPU again counts at least one):', ...table(
    ['', ...labels.map(shortLabel), 'total'],
    measured.map(({ name, perOperation }) => {
      const total = Object.values(perOperation).reduce((sum, n) => sum + n, 0);
      return [name, ...labels.map((l) => perOperation[l]?.toFixed(2) ?? '–'), total.toFixed(2)];
    }),
  )];
}

/** CPU milliseconds one operation costs the whole system under test (load generator included). */
export const totalCpuMs = (cpu: CpuUse): number => Object.values(cpu.msPerOperation).reduce((sum, ms) => sum + ms, 0);

const shortLabel = (label: string) => ({
  'authorize-service': 'authorize', 'consent-ui': 'consent', 'token-service': 'token', 'validation-service': 'validation',
  'nats-server': 'nats', 'load generator (bench)': 'bench', 'postgres (all)': 'postgres', [YARDSTICK_CLIENT]: 'client', [ECHO_LABEL]: 'echo',
} as Record<string, string>)[label] ?? label;

function table(header: string[], rows: string[][]): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)];
}

export const hasErrors = (report: BenchReport): boolean =>
  report.scenarios.some((s) => s.errors > 0)
  || (report.yardstick !== undefined && 'sideBySide' in report.yardstick
    && (report.yardstick.rounds ?? [report.yardstick]).some((round) => round.product.some((p) => p.errors > 0)))
  || (report.yardstick !== undefined && 'error' in report.yardstick);

async function main(): Promise<void> {
  let options: Options;
  try {
    options = parseOptions(process.argv.slice(2));
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n`);
    process.exit(2);
  }
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      process.stderr.write(`[bench] ${signal}: stopping what this run started\n`);
      void Promise.resolve(stopOnSignal?.()).finally(() => process.exit(130));
    });
  }
  const { report, file } = await runBench(options);
  process.stdout.write(`\n${formatReport(report)}\n\nresults: ${path.relative(process.cwd(), file)}\n`);
  if (report.settings.cpuProfiles) process.stdout.write(`CPU profiles: ${path.relative(process.cwd(), report.settings.cpuProfiles)}\n`);
  // A run with errors measured something other than the flows: say so in the exit code.
  process.exit(hasErrors(report) ? 1 : 0);
}

if (import.meta.main) {
  main().catch((error: Error) => {
    process.stderr.write(`[bench] ${error instanceof UsageError ? error.message : error.stack ?? String(error)}\n`);
    process.exit(error instanceof UsageError ? 2 : 1);
  });
}
