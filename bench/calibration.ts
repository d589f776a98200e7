// How fast this machine is at work every flow does, measured in the load generator before the
// scenarios: figures from two machines compare only after dividing by these. (Issue 13 found the
// same code costing 2.5x the CPU per flow on another machine of the same kind; this says why.)
import { createHash, generateKeyPairSync, sign } from 'node:crypto';

export type Calibration = {
  /** CPU microseconds for one ES256 signature over an access token's size of input (node:crypto). */
  es256SignUs: number;
  /** SHA-256 throughput over 64 KiB buffers, MB of CPU time per second. */
  sha256MBps: number;
};

const cpuUs = (): number => {
  const { user, system } = process.cpuUsage();
  return user + system;
};

/** Median of three timed rounds each, CPU time (not wall time, so a busy machine skews it less). */
export function calibrate(): Calibration {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const claims = Buffer.alloc(400, 0x61);
  const signOnce = () => sign('sha256', claims, { key: privateKey, dsaEncoding: 'ieee-p1363' });
  const block = Buffer.alloc(64 * 1024, 0x62);
  const hashOnce = () => createHash('sha256').update(block).digest();
  for (let i = 0; i < 200; i++) signOnce();
  const es256SignUs = median([0, 1, 2].map(() => perCall(signOnce, 1000)));
  const hashUs = median([0, 1, 2].map(() => perCall(hashOnce, 400)));
  return { es256SignUs: round(es256SignUs), sha256MBps: round(block.length / hashUs) };
}

function perCall(work: () => unknown, times: number): number {
  const start = cpuUs();
  for (let i = 0; i < times; i++) work();
  return (cpuUs() - start) / times;
}

const median = (values: number[]): number => values.sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
const round = (value: number): number => Number(value.toFixed(1));
