// `npm run bench` must keep working: run it for a moment (its own services, private NATS, a fresh
// database), and check that every scenario completed operations without an error, that database
// commands were counted, and that the JSON was written. No figure is asserted: timing is the
// benchmark's business, not the test suite's. Plus the benchmark's small parsers.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { projectRoot } from './helpers/process.ts';
import { natsServerBinary } from './helpers/nats-server.ts';
import { formatFloor, formatRounds, formatSpeed, formatWaits, hasErrors, parseOptions, type BenchReport, type YardstickRound } from '../bench/run.ts';
import { commandDelta, parseCommandCounts } from '../bench/db-commands.ts';
import { serviceWaits } from '../bench/service-waits.ts';
import { percentile } from '../bench/load.ts';
import { cpuAccountingAvailable, cpuBetween, processTree, snapshot } from '../bench/cpu.ts';
import { runFlows, YARDSTICK_CLIENT } from '../bench/yardstick.ts';

const RUN_TIMEOUT_MS = 60_000;

function runBench(args: string[]): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    // The tests' own nats-server: the benchmark would otherwise install a newer one when none is found (minutes on a fresh machine).
    const env = { ...process.env, NATS_SERVER_BIN: natsServerBinary() };
    const child = spawn(process.execPath, ['bench/run.ts', ...args], { cwd: projectRoot, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGTERM');
      reject(new Error(`bench did not finish within ${RUN_TIMEOUT_MS / 1000} s:\n${output}`));
    }, RUN_TIMEOUT_MS);
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

describe('npm run bench', () => {
  it('runs every scenario without an error, counts database commands, and writes its JSON', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'oauth-bench-'));
    try {
      // With other owners' records stored, as a server in use has them (bench/stored-owners.ts).
      const { code, output } = await runBench(['--seconds', '0.5', '--no-peer', '--stored-owners', '1500', '--results-dir', dir]);
      assert.equal(code, 0, output);
      const files = (await readdir(dir)).filter((f) => /^bench-.*\.json$/.test(f));
      assert.equal(files.length, 1, `one results file in ${dir}`);
      const report = JSON.parse(await readFile(join(dir, files[0]!), 'utf8')) as BenchReport;

      assert.deepEqual(report.scenarios.map((s) => s.key), ['code', 'refresh', 'cc', 'validate', 'floor', 'validate', 'floor', 'dpop', 'signin']);
      for (const s of report.scenarios) {
        assert.equal(s.errors, 0, `${s.name}: ${s.firstError}`);
        assert.ok(s.completed > 0, `${s.name} completed operations`);
        assert.ok(s.p50Ms > 0 && s.p99Ms >= s.p50Ms, `${s.name} has latencies`);
      }
      const byKey = (key: string) => report.scenarios.find((s) => s.key === key)!;
      // Every service counts its commands (BENCH_COUNT_DB_COMMANDS), so the flows show theirs...
      // (inserts from concurrent operations go out grouped, so a flow may cost less than one command)
      for (const key of ['code', 'refresh', 'signin']) assert.ok((byKey(key).dbCommandsPerOperation ?? 0) > 0, `${key} counted database commands`);
      assert.ok(byKey('code').dbCommands['token-service'], 'token-service reported its commands');
      // Client credentials stores nothing (client authentication reads its failures at most once a second).
      assert.ok((byKey('cc').dbCommandsPerOperation ?? 1) < 0.5, `cc: ${byKey('cc').dbCommandsPerOperation}`);
      // ...and validation answers from memory (background reloads aside).
      for (const s of report.scenarios.filter((r) => r.key === 'validate' || r.key === 'dpop')) assert.ok((s.dbCommandsPerOperation ?? 1) < 0.1, `${s.name}: ${s.dbCommandsPerOperation}`);
      // The floor under each validate scenario: the echo endpoint answered (with validation-service's recorded reply), its CPU its own column.
      const floors = report.scenarios.filter((s) => s.key === 'floor');
      assert.deepEqual(floors.map((f) => f.concurrency), [128, 8]);
      for (const floor of floors) assert.ok(floor.cpu === undefined || floor.cpu.msPerOperation['echo endpoint (bench)'] !== undefined, 'the echo endpoint is watched');
      for (const inFlight of [128, 8]) {
        assert.match(output, new RegExp(`validate with ${inFlight} in flight beside the floor .*: [\\d.]+/s \\(\\d+ % of the floor's [\\d.]+/s\\), p50 [\\d.]+ ms \\(floor [\\d.]+, [+-][\\d.]+\\), p99 `));
      }
      assert.match(report.database, /MongoDB|FerretDB/);
      assert.match(report.natsServer, /^\d+\.\d+\.\d+/, 'the NATS server version is recorded');
      const { es256SignUs, sha256MBps, loopbackRoundTripUs, crossThreadRoundTripUs } = report.machine.calibration;
      assert.ok(es256SignUs > 0 && sha256MBps > 0 && loopbackRoundTripUs > 0 && crossThreadRoundTripUs > 0, 'the machine is calibrated');
      assert.match(output, /ES256 sign [\d.]+ µs CPU/);
      // The machine's speed, read again before each scenario and at the end.
      const speed = report.machine.speedDuringRun!;
      assert.deepEqual(speed.map((r) => r.before), [...report.scenarios.map((s) => s.name), 'end']);
      assert.ok(speed.every((r) => r.es256SignUs > 0), JSON.stringify(speed));
      assert.match(output, /machine speed before each part \(ES256 sign, µs of CPU; higher is slower\): code flow, signed in [\d.]+ · /);
      assert.deepEqual(report.yardstick, { skipped: '--no-peer' });
      assert.match(output, /code flow, signed in/);
      assert.equal(report.settings.storedOwners, 1500);
      assert.match(output, /1500 other owners stored \(user, session, consent\)/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('refuses bad options with a usage line', () => {
    assert.throws(() => parseOptions(['--seconds', '0']), /--seconds/);
    assert.throws(() => parseOptions(['--only', 'code,nope']), /unknown scenario "nope"/);
    assert.throws(() => parseOptions(['--with-peer', '--no-peer']), /exclude each other/);
    assert.throws(() => parseOptions(['--issuer', 'http://127.0.0.1:8080/path']), /--issuer/);
    assert.throws(() => parseOptions(['--bogus']), /usage: npm run bench/);
    for (const bad of ['-1', '1.5', 'many', '1000001', '', '1e3', '0x10', ' 5']) assert.throws(() => parseOptions(['--stored-owners', bad]), /--stored-owners/);
    assert.throws(() => parseOptions(['--stored-owners', '10', '--issuer', 'http://127.0.0.1:8080']), /cannot be used with --issuer/);
    const defaults = parseOptions([]);
    assert.equal(defaults.storedOwners, 0);
    assert.equal(defaults.seconds, 15);
    assert.deepEqual(defaults.only, ['code', 'refresh', 'cc', 'validate', 'dpop', 'signin']);
    assert.equal(defaults.peer, undefined, 'the peer runs when the yardstick is there');
    assert.equal(defaults.rounds, 1);
    assert.equal(parseOptions(['--rounds', '3']).rounds, 3);
    for (const bad of ['0', '10', '1.5', 'two', '', ' 2']) assert.throws(() => parseOptions(['--rounds', bad]), /--rounds must be a whole number from 1 to 9/);
  });
});

/**
 * Source of a function for the stand-in processes below: burns `ms` of CPU time, not wall clock, so
 * what they use does not depend on how busy the machine is (CI runs other test files beside these).
 */
const BURN_CPU = 'const burnCpu = (ms) => { const start = process.cpuUsage(); for (;;) { const used = process.cpuUsage(start); if (used.user + used.system >= ms * 1000) break; } };';

describe('bench helpers', () => {
  const phase = (name: string, opsPerSecond: number, errors = 0) => ({ phase: name, ops_per_s: opsPerSecond, p50_ms: 1, p99_ms: 2, errors });

  it('shows each yardstick round\'s ratio and their range and median, and fails a run with errors in any round', () => {
    const rounds: YardstickRound[] = [
      { product: [phase('refresh', 900), phase('code_flow', 500)], peer: [phase('refresh', 1000), phase('code_flow', 500)] },
      { product: [phase('refresh', 1100), phase('code_flow', 450)], peer: [phase('refresh', 1000), phase('code_flow', 500)] },
      { product: [phase('refresh', 950), phase('code_flow', 520)], peer: [phase('refresh', 1000), phase('code_flow', 400)] },
    ];
    assert.deepEqual(formatRounds(undefined), [], 'one round: the main table says it all');
    assert.deepEqual(formatRounds(rounds.slice(0, 1)), []);
    const lines = formatRounds(rounds);
    assert.match(lines.join('\n'), /refresh\s+2\s+1100\.0\s+1000\.0\s+1\.10x/);
    assert.ok(lines.includes('refresh: product/peer 0.90–1.10x over 3 rounds, median 0.95x'), lines.join('\n'));
    assert.ok(lines.includes('code_flow: product/peer 0.90–1.30x over 3 rounds, median 1.00x'), lines.join('\n'));
    assert.ok(formatRounds(rounds.slice(0, 2)).includes('refresh: product/peer 0.90–1.10x over 2 rounds, median 1.00x'), 'an even count: the mean of the middle two');
    assert.ok(!lines.some((line) => line.startsWith('the speed read')), 'no readings, no word on them');

    // The speed read before each side's part, by round; round 2's differ by more than 20 %.
    const speed = [[60, 66], [60, 90], [70, 65]].flatMap(([product, peer], i) => [
      { before: `yardstick: product, round ${i + 1} of 3`, es256SignUs: product! }, { before: `yardstick: peer, round ${i + 1} of 3`, es256SignUs: peer! },
    ]);
    const withSpeed = formatRounds(rounds, [{ before: 'code flow, signed in', es256SignUs: 61 }, ...speed]);
    assert.match(withSpeed.join('\n'), /refresh\s+2\s+1100\.0\s+1000\.0\s+1\.10x\s+60 \/ 90/);
    assert.match(withSpeed.join('\n'), /code_flow\s+3\s+520\.0\s+400\.0\s+1\.30x\s+70 \/ 65/);
    assert.ok(withSpeed.some((line) => line.startsWith('the speed read before the product\'s part and before the peer\'s differs by more than 20 % in round 2:')), withSpeed.join('\n'));

    const report = (yardstickRounds: YardstickRound[]) => ({
      scenarios: [],
      yardstick: { ...yardstickRounds[0]!, sideBySide: [], rounds: yardstickRounds },
    }) as unknown as BenchReport;
    assert.equal(hasErrors(report(rounds)), false);
    const failedLater = [...rounds.slice(0, 2), { ...rounds[2]!, product: [phase('refresh', 950, 3)] }];
    assert.equal(hasErrors(report(failedLater)), true, 'an error in a later round fails the run');
  });

  it('sets each validate scenario beside the floor measured with as many in flight, and says nothing without one', () => {
    const run = (key: 'validate' | 'floor', concurrency: number, opsPerSecond: number, p50Ms: number, p99Ms: number) => ({ key, concurrency, opsPerSecond, p50Ms, p99Ms });
    assert.deepEqual(formatFloor([run('validate', 128, 18000, 5, 20), run('validate', 8, 9000, 0.9, 2.1)]), [], 'no floor measured (a running system)');
    const lines = formatFloor([
      run('validate', 128, 18000, 5, 20), run('floor', 128, 24000, 4, 16.5), run('validate', 8, 9000, 0.9, 2.1), run('floor', 8, 10000, 1.0, 1.75),
    ]);
    assert.equal(lines.length, 2);
    assert.match(lines[0]!, /^validate with 128 in flight beside the floor .*: 18000\.0\/s \(75 % of the floor's 24000\.0\/s\), p50 5\.00 ms \(floor 4\.00, \+1\.00\), p99 20\.00 ms \(floor 16\.50, \+3\.50\)$/);
    assert.match(lines[1]!, /^validate with 8 in flight beside the floor .*: 9000\.0\/s \(90 % of the floor's 10000\.0\/s\), p50 0\.90 ms \(floor 1\.00, -0\.10\), p99 2\.10 ms \(floor 1\.75, \+0\.35\)$/);
  });

  it('lists the machine\'s speed before each part of a run, and warns when it changed by more than a fifth', () => {
    assert.deepEqual(formatSpeed([]), [], 'nothing read (a results file from before the readings)');
    const steady = formatSpeed([{ before: 'code flow', es256SignUs: 60 }, { before: 'end', es256SignUs: 71.9 }]);
    assert.deepEqual(steady, ['', 'machine speed before each part (ES256 sign, µs of CPU; higher is slower): code flow 60 · end 71.9']);
    const changed = formatSpeed([{ before: 'yardstick: product', es256SignUs: 98.7 }, { before: 'yardstick: peer', es256SignUs: 70.5 }, { before: 'end', es256SignUs: 75 }]);
    assert.equal(changed.length, 3);
    assert.match(changed[2]!, /^the machine's speed changed by 40 % during this run/);
  });

  it('reads mongodb_commands_total from a Prometheus exposition and divides the difference', () => {
    const before = new Map([['token-service', parseCommandCounts('mongodb_commands_total{command="find",service="token-service"} 10\n')]]);
    const after = new Map([['token-service', parseCommandCounts([
      '# HELP mongodb_commands_total MongoDB commands sent',
      '# TYPE mongodb_commands_total counter',
      'mongodb_commands_total{command="find",service="token-service"} 30',
      'mongodb_commands_total{command="insert",service="token-service"} 20',
      'http_request_duration_seconds_count{route="/token"} 99',
    ].join('\n'))]]);
    const delta = commandDelta(before, after, 20);
    assert.deepEqual(delta.byService, { 'token-service': { find: 20, insert: 20 } });
    assert.equal(delta.perOperation, 2);
    assert.equal(commandDelta(new Map(), new Map(), 5).perOperation, null, 'no service could be read');
  });

  it('reads how busy each grouped insert writer was, its documents per write, and the mean audit ack, from two /metrics scrapes', () => {
    const scrape = (writes: number, seconds: number, documents: number, acks: number, ackSeconds: number) => [
      '# TYPE group_commit_write_seconds histogram',
      `group_commit_write_seconds_bucket{le="+Inf",collection="grant_claims",service="token-service"} ${writes}`,
      `group_commit_write_seconds_sum{collection="grant_claims",service="token-service"} ${seconds}`,
      `group_commit_write_seconds_count{collection="grant_claims",service="token-service"} ${writes}`,
      `group_commit_documents_total{collection="grant_claims",service="token-service"} ${documents}`,
      `audit_publish_ack_seconds_sum{service="token-service"} ${ackSeconds}`,
      `audit_publish_ack_seconds_count{service="token-service"} ${acks}`,
    ].join('\n');
    const before = new Map([['token-service', scrape(10, 0.5, 40, 100, 0.1)]]);
    const after = new Map([['token-service', scrape(410, 8.5, 2040, 2100, 2.1)]]);
    const waits = serviceWaits(before, after, 10);
    assert.deepEqual(waits.groupCommits, [{ service: 'token-service', collection: 'grant_claims', writes: 400, busy: 0.8, documentsPerWrite: 5, msPerWrite: 20 }]);
    assert.deepEqual(waits.auditAcks, [{ service: 'token-service', acks: 2000, meanMs: 1 }]);
    assert.deepEqual(serviceWaits(after, after, 10), { groupCommits: [], auditAcks: [] }, 'nothing written, nothing acked');
  });

  it('watches a script and the processes it started under one label, and reads the CPU they used between two snapshots', { skip: !cpuAccountingAvailable() }, async () => {
    // A shell that starts a node: the yardstick's run-flows.sh and the node it runs, in small. The
    // node burns a fixed amount of CPU time when told to.
    const burn = `${BURN_CPU}
      process.stdin.once('data', () => {
        burnCpu(300);
        process.stdout.write('done\\n');
      });
      process.stdin.on('end', () => process.exit(0));`;
    const child = spawn('bash', ['-c', `"${process.execPath}" -e "$BURN"; true`], { stdio: ['pipe', 'pipe', 'ignore'], env: { ...process.env, BURN: burn } });
    const exited = new Promise((resolve) => child.once('exit', resolve));
    // 'done' from the node, or a failure if the shell ends first (the node could not start).
    const burnt = Promise.race([
      new Promise((resolve) => child.stdout!.once('data', resolve)),
      exited.then(() => assert.fail('the child ended before it reported its burn')),
    ]);
    try {
      let tree = processTree('script', child.pid!);
      for (let tries = 0; tree.length < 2 && tries < 100; tries += 1) {
        await new Promise((resolve) => setTimeout(resolve, 50));
        tree = processTree('script', child.pid!);
      }
      const pids = tree.map((w) => w.pid);
      assert.ok(pids.includes(child.pid!) && pids.length >= 2, `the shell and its node: ${JSON.stringify(tree)}`);
      assert.equal(new Set(pids).size, pids.length, 'each process once');
      assert.ok(tree.every((w) => w.label === 'script'));
      const before = snapshot(tree);
      child.stdin!.write('go\n');
      await burnt;
      const cpu = cpuBetween(before, snapshot(tree), 2);
      // 300 ms of CPU over two operations, give or take the kernel's 10 ms ticks.
      assert.ok(cpu.msPerOperation.script! >= 130, `the burn is counted: ${JSON.stringify(cpu)}`);
      assert.ok(cpu.cpusByProcess.script! > 0, 'a share of a CPU');
      assert.equal(typeof cpu.switchesPerOperation.script, 'number', `context switches read from /proc: ${JSON.stringify(cpu)}`);
      child.stdin!.end();
      await exited;
      const gone = cpuBetween(before, snapshot(tree), 2);
      assert.equal(gone.cpusByProcess.script, undefined, 'processes gone by the second reading: unknown, not a negative figure');
    } finally {
      // The node waits on its standard input: closing it ends the node, whatever failed above.
      child.stdin!.destroy();
      child.kill();
    }
  });

  it('tells CPU the hypervisor took away (steal) apart from CPU used by other processes on the machine', () => {
    const before = { at: 0, machineBusy: 0, machineStolen: 0, machineTotal: 0, byLabel: new Map([['script', new Map([[1, 0]])]]), switchesByLabel: new Map() };
    // One second, two CPUs: 150 ticks busy, of which 30 stolen and 100 the watched process's.
    const after = { at: 1000, machineBusy: 150, machineStolen: 30, machineTotal: 200, byLabel: new Map([['script', new Map([[1, 100]])]]), switchesByLabel: new Map() };
    const cpu = cpuBetween(before, after, 10);
    assert.equal(cpu.cpusStolen, 0.3);
    assert.equal(cpu.cpusElsewhere, 0.2, 'steal is not counted as another process\'s work');
    assert.equal(cpu.cpusByProcess.script, 1);
    assert.equal(cpu.machineBusy, 0.75);
  });

  it('counts the context switches of a label\'s processes per operation: a process new since the first reading in full, one gone by the second not at all', () => {
    const ticks = new Map([['script', new Map([[1, 0]])]]);
    const before = { at: 0, machineBusy: 0, machineStolen: 0, machineTotal: 0, byLabel: ticks, switchesByLabel: new Map([['script', new Map([[1, 100], [2, 40]])]]) };
    // Process 1 switched 250 times more, process 2 ended, process 3 started and switched 50 times.
    const after = { at: 1000, machineBusy: 0, machineStolen: 0, machineTotal: 200, byLabel: ticks, switchesByLabel: new Map([['script', new Map([[1, 350], [3, 50]])]]) };
    assert.deepEqual(cpuBetween(before, after, 10).switchesPerOperation, { script: 30 });
  });

  it('reads each phase line of run-flows.sh as it arrives, with the CPU its client used, and skips lines that are not JSON', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'oauth-yardstick-'));
    try {
      // A stand-in for the yardstick: like run-flows.sh it ends in `exec node`, whose busy work comes
      // before each phase line; one line is noise, and the last has no newline.
      await writeFile(join(dir, 'flows.js'), [
        BURN_CPU,
        // Like the real client's start and sign-ins: time before the first phase that is not the phase's (1 s, no CPU).
        'Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1000);',
        'burnCpu(300);',
        'console.log(JSON.stringify({ phase: "refresh", ops_per_s: 10, p50_ms: 1, p99_ms: 2, errors: 0 }));',
        'console.log("{not json");',
        // A pause (no CPU) before the second burn, so that it falls after the reading for the first line.
        'Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 500);',
        'burnCpu(300);',
        'process.stdout.write(JSON.stringify({ phase: "code_flow", ops_per_s: 5, p50_ms: 3, p99_ms: 4, errors: 0 }));',
        '',
      ].join('\n'));
      await writeFile(join(dir, 'run-flows.sh'), `exec "${process.execPath}" "${join(dir, 'flows.js')}"\n`);
      const target = { issuer: 'http://127.0.0.1:9', client: 'c', secret: 's', redirect: 'http://127.0.0.1:9/cb', scope: 'x', user: 'u', password: 'p' };
      // The product's /metrics, read at the start and as each phase line arrives: writes 10, 30, 70 in all.
      const metricsReads: number[] = [];
      const metrics = async () => {
        const writes = [10, 30, 70][metricsReads.length] ?? 999;
        metricsReads.push(writes);
        return new Map([['token-service', [
          `group_commit_write_seconds_sum{collection="grant_claims",service="token-service"} ${writes / 100}`,
          `group_commit_write_seconds_count{collection="grant_claims",service="token-service"} ${writes}`,
          `group_commit_documents_total{collection="grant_claims",service="token-service"} ${writes * 4}`,
        ].join('\n')]]);
      };
      const phases = await runFlows(dir, target, 1, 1, { processes: () => [], metrics });
      assert.deepEqual(phases.map((p) => p.phase), ['refresh', 'code_flow'], 'a last line without a newline counts too');
      assert.deepEqual(metricsReads, [10, 30, 70], 'read at the start and at each phase line, not at the noise');
      assert.deepEqual(phases.map((p) => p.waits?.groupCommits.map((g) => [g.writes, g.documentsPerWrite, g.msPerWrite])), [[[20, 4, 10]], [[40, 4, 10]]]);
      // Busy: 0.2 s and 0.4 s of inserts over the time between the readings (at least 1.3 s and 0.8 s
      // here), not over the phase's nominal second.
      const [refreshBusy, codeFlowBusy] = phases.map((p) => p.waits!.groupCommits[0]!.busy);
      assert.ok(refreshBusy! > 0.01 && refreshBusy! <= 0.2 / 1.3, `refresh: ${refreshBusy}`);
      assert.ok(codeFlowBusy! > 0.02 && codeFlowBusy! <= 0.4 / 0.8, `code_flow: ${codeFlowBusy}`);
      assert.match(formatWaits([{ name: `yardstick ${phases[0]!.phase}`, waits: phases[0]!.waits! }]).join('\n'), /yardstick refresh\s+token-service\s+grant_claims inserts\s+\d+%\s+4\.00\s+10\.00/);
      if (cpuAccountingAvailable()) {
        // The last reading may come after the client has exited: then its figure is unknown, never wrong.
        const [refresh, codeFlow] = phases;
        // 300 ms of CPU before each line, over its 10 and 5 operations (ops_per_s × 1 s), give or take the kernel's 10 ms ticks.
        assert.ok((refresh!.cpu?.msPerOperation[YARDSTICK_CLIENT] ?? 0) >= 25, `refresh: ${JSON.stringify(refresh!.cpu)}`);
        assert.ok((refresh!.cpu?.cpusByProcess[YARDSTICK_CLIENT] ?? 0) > 0, `refresh: ${JSON.stringify(refresh!.cpu)}`);
        const last = codeFlow!.cpu?.msPerOperation[YARDSTICK_CLIENT];
        assert.ok(last === undefined || last >= 50, `code_flow: ${JSON.stringify(codeFlow!.cpu)}`);
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('takes nearest-rank percentiles', () => {
    const values = Array.from({ length: 100 }, (_, i) => i + 1);
    assert.equal(percentile(values, 0.5), 50);
    assert.equal(percentile(values, 0.99), 99);
    assert.equal(percentile([7], 0.99), 7);
    assert.ok(Number.isNaN(percentile([], 0.5)));
  });
});
