// How fast this machine is at work every flow does, measured in the load generator before the
// scenarios: figures from two machines compare only after dividing by these. (Issue 13 found the
// same code costing 2.5x the CPU per flow on another machine of the same kind; this says why.)
// The product sends a request through about a dozen loopback sockets per flow (HTTP hops, NATS,
// the database) where the in-memory peer uses one, so the cost of a socket round trip is measured
// too: on a VM it varies between hosts far more than signing does.
import { createHash, generateKeyPairSync, sign } from 'node:crypto';
import net from 'node:net';

export type Calibration = {
  /** CPU microseconds for one ES256 signature over an access token's size of input (node:crypto). */
  es256SignUs: number;
  /** SHA-256 throughput over 64 KiB buffers, MB of CPU time per second. */
  sha256MBps: number;
  /** CPU microseconds for one 64-byte request and answer over a loopback TCP socket (both ends here). */
  loopbackRoundTripUs: number;
};

const cpuUs = (): number => {
  const { user, system } = process.cpuUsage();
  return user + system;
};

/** Median of three timed rounds each, CPU time (not wall time, so a busy machine skews it less). */
export async function calibrate(): Promise<Calibration> {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const claims = Buffer.alloc(400, 0x61);
  const signOnce = () => sign('sha256', claims, { key: privateKey, dsaEncoding: 'ieee-p1363' });
  const block = Buffer.alloc(64 * 1024, 0x62);
  const hashOnce = () => createHash('sha256').update(block).digest();
  for (let i = 0; i < 200; i++) signOnce();
  const es256SignUs = median([0, 1, 2].map(() => perCall(signOnce, 1000)));
  const hashUs = median([0, 1, 2].map(() => perCall(hashOnce, 400)));
  const roundTrips: number[] = [];
  for (let round = 0; round < 3; round++) roundTrips.push(await loopbackRoundTrip(2000));
  return { es256SignUs: round(es256SignUs), sha256MBps: round(block.length / hashUs), loopbackRoundTripUs: round(median(roundTrips)) };
}

/** CPU µs per ping-pong over loopback TCP: two writes and two reads, as one NATS or HTTP hop costs at least. */
async function loopbackRoundTrip(times: number): Promise<number> {
  const server = net.createServer((socket) => socket.on('data', (chunk) => socket.write(chunk)));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  const client = net.connect(port, '127.0.0.1');
  client.setNoDelay(true);
  await new Promise((resolve) => client.once('connect', resolve));
  const message = Buffer.alloc(64, 0x63);
  const start = cpuUs();
  for (let i = 0; i < times; i++) {
    const answered = new Promise((resolve) => client.once('data', resolve));
    client.write(message);
    await answered;
  }
  const used = (cpuUs() - start) / times;
  client.destroy();
  await new Promise((resolve) => server.close(resolve));
  return used;
}

function perCall(work: () => unknown, times: number): number {
  const start = cpuUs();
  for (let i = 0; i < times; i++) work();
  return (cpuUs() - start) / times;
}

const median = (values: number[]): number => values.sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
const round = (value: number): number => Number(value.toFixed(1));
