// CPU time per process during a scenario, read from /proc (Linux): where the machine's time went
// (each service, the database, NATS, the load generator itself, and everything else running on
// the machine), so a figure can be told apart from a busy neighbour; and how often each process's
// threads were switched off a CPU, since a request that crosses processes wakes each one it
// crosses, and on some virtual machines a switch costs far more than on others.
import fs from 'node:fs';

export type Watched = { label: string; pid: number };

/** Counts by label and, within a label, by pid (a process that ends between two readings loses only its own share). */
type ByLabel = Map<string, Map<number, number>>;

/** CPU ticks and context switches (threads summed) by label and pid, and the machine's ticks. */
export type Snapshot = { at: number; machineBusy: number; machineStolen: number; machineTotal: number; byLabel: ByLabel; switchesByLabel: ByLabel };

const TICKS_PER_SECOND = 100; // USER_HZ on Linux

/** The fields of /proc/<pid>/stat after the command name (state, ppid, …), or undefined once the process is gone. */
function statFields(pid: number): string[] | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

/** utime + stime of a process, or undefined once it is gone. */
function processTicks(pid: number): number | undefined {
  const fields = statFields(pid);
  return fields ? Number(fields[11]) + Number(fields[12]) : undefined;
}

/**
 * Context switches of a process so far, summed over its threads (voluntary: it waited, for I/O or a
 * lock; involuntary: it was preempted), or undefined once it is gone. A thread that ended is no
 * longer counted, so a reading can only be low.
 */
function processSwitches(pid: number): number | undefined {
  let total = 0;
  try {
    for (const thread of fs.readdirSync(`/proc/${pid}/task`)) {
      const status = fs.readFileSync(`/proc/${pid}/task/${thread}/status`, 'utf8');
      for (const match of status.matchAll(/^(?:non)?voluntary_ctxt_switches:\s+(\d+)$/gm)) total += Number(match[1]);
    }
  } catch {
    return undefined; // gone (or a thread ended while being read: this reading is skipped)
  }
  return total;
}

/** Every process on the machine now. */
const processIds = (): number[] => fs.readdirSync('/proc').filter((entry) => /^\d+$/.test(entry)).map(Number);

/** Every process whose command name is `comm` (e.g. all PostgreSQL backends). */
function pidsNamed(comm: string): number[] {
  return processIds().filter((pid) => {
    try {
      return fs.readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === comm;
    } catch {
      return false; // gone
    }
  });
}

/** A process and every process it started (a script and the node it runs), under one label. */
export function processTree(label: string, rootPid: number): Watched[] {
  const children = new Map<number, number[]>();
  for (const pid of processIds()) {
    const parent = statFields(pid)?.[1];
    if (parent !== undefined) children.set(Number(parent), [...(children.get(Number(parent)) ?? []), pid]);
  }
  const tree: Watched[] = [];
  for (const pending = [rootPid]; pending.length > 0;) {
    const pid = pending.pop()!;
    tree.push({ label, pid });
    pending.push(...(children.get(pid) ?? []));
  }
  return tree;
}

/**
 * The machine's ticks from /proc/stat: busy (everything but idle and iowait), of which stolen (time a
 * virtual machine's CPUs were ready to run but the hypervisor ran something else: a busy neighbour).
 */
function machineTicks(): { busy: number; stolen: number; total: number } {
  const cpu = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  // Fields: user nice system idle iowait irq softirq steal guest guest_nice; guest time is already in user.
  const total = cpu.slice(0, 8).reduce((sum, v) => sum + v, 0);
  const idle = (cpu[3] ?? 0) + (cpu[4] ?? 0);
  return { busy: total - idle, stolen: cpu[7] ?? 0, total };
}

export const cpuAccountingAvailable = (): boolean => fs.existsSync('/proc/stat') && fs.existsSync(`/proc/${process.pid}/stat`);

export function snapshot(watched: readonly Watched[], groups: readonly string[] = []): Snapshot {
  const byLabel: ByLabel = new Map();
  const switchesByLabel: ByLabel = new Map();
  const put = (into: ByLabel, label: string, pid: number, value: number | undefined) => {
    if (value === undefined) return;
    if (!into.has(label)) into.set(label, new Map());
    into.get(label)!.set(pid, value);
  };
  const add = (label: string, pid: number) => {
    put(byLabel, label, pid, processTicks(pid));
    put(switchesByLabel, label, pid, processSwitches(pid));
  };
  for (const { label, pid } of watched) add(label, pid);
  for (const comm of groups) for (const pid of pidsNamed(comm)) add(`${comm} (all)`, pid);
  const machine = machineTicks();
  return { at: Date.now(), machineBusy: machine.busy, machineStolen: machine.stolen, machineTotal: machine.total, byLabel, switchesByLabel };
}

export type CpuUse = {
  /** Share of the whole machine that was busy (1 = every CPU all the time). */
  machineBusy: number;
  /** CPU seconds per wall-clock second, per process (1 = one CPU fully used). */
  cpusByProcess: Record<string, number>;
  /** Busy CPU not accounted for by the processes above: anything else on the machine. */
  cpusElsewhere: number;
  /** CPUs the hypervisor gave to someone else while this machine's were ready to run (steal time; 0 on bare metal). */
  cpusStolen: number;
  /** CPU milliseconds per completed operation, per process. */
  msPerOperation: Record<string, number>;
  /** Context switches per completed operation, per process (its threads summed). */
  switchesPerOperation: Record<string, number>;
};

/** Measures CPU use of `watched` processes (and of every process named in `groups`) around `run`. */
export async function measureCpu<T extends { completed: number }>(
  watched: readonly Watched[],
  groups: readonly string[],
  run: () => Promise<T>,
): Promise<{ result: T; cpu: CpuUse | undefined }> {
  if (!cpuAccountingAvailable()) return { result: await run(), cpu: undefined };
  const before = snapshot(watched, groups);
  const result = await run();
  return { result, cpu: cpuBetween(before, snapshot(watched, groups), result.completed) };
}

/** What each process used between two snapshots, per second and per one of `completed` operations. */
export function cpuBetween(before: Snapshot, after: Snapshot, completed: number): CpuUse {
  const seconds = (after.at - before.at) / 1000;
  const cpusByProcess: Record<string, number> = {};
  const msPerOperation: Record<string, number> = {};
  const switchesPerOperation: Record<string, number> = {};
  let accounted = 0;
  for (const [label, pids] of after.byLabel) {
    const used = grown(pids, before.byLabel.get(label)) / TICKS_PER_SECOND;
    accounted += used;
    cpusByProcess[label] = Number((used / seconds).toFixed(2));
    msPerOperation[label] = completed > 0 ? Number(((used * 1000) / completed).toFixed(2)) : 0;
  }
  for (const [label, pids] of after.switchesByLabel) {
    switchesPerOperation[label] = completed > 0 ? Number((grown(pids, before.switchesByLabel.get(label)) / completed).toFixed(2)) : 0;
  }
  const stolenSeconds = (after.machineStolen - before.machineStolen) / TICKS_PER_SECOND;
  const busySeconds = (after.machineBusy - before.machineBusy) / TICKS_PER_SECOND - stolenSeconds;
  const totalTicks = after.machineTotal - before.machineTotal;
  return {
    machineBusy: totalTicks > 0 ? Number(((after.machineBusy - before.machineBusy) / totalTicks).toFixed(2)) : 0,
    cpusByProcess,
    cpusElsewhere: Number((Math.max(0, busySeconds - accounted) / seconds).toFixed(2)),
    cpusStolen: Number((Math.max(0, stolenSeconds) / seconds).toFixed(2)),
    msPerOperation,
    switchesPerOperation,
  };
}

/** How much a label's counts grew: a pid new since the first reading counts in full, one gone by the second counts nothing. */
function grown(now: Map<number, number>, before: Map<number, number> | undefined): number {
  let sum = 0;
  for (const [pid, value] of now) sum += value - (before?.get(pid) ?? 0);
  return Math.max(0, sum);
}
