// How fast this machine is at work every flow does, measured in the load generator before the
// scenarios: figures from two machines compare only after dividing by these. (Issue 13 found the
// same code costing 2.5x the CPU per flow on another machine of the same kind; this says why.)
// The product sends a request through about a dozen loopback sockets per flow (HTTP hops, NATS,
// the database) where the in-memory peer uses one, so the cost of a socket round trip is measured
// too: on a VM it varies between hosts far more than signing does. It is measured twice: with both
// ends in one thread, and with the answering end in a thread of its own that sleeps between
// messages, as the product's processes do, so that each round trip wakes a thread on another CPU.
import { createHash, generateKeyPairSync, sign } from 'node:crypto';
import net from 'node:net';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';

export type Calibration = {
  /** CPU microseconds for one ES256 signature over an access token's size of input (node:crypto). */
  es256SignUs: number;
  /** SHA-256 throughput over 64 KiB buffers, MB of CPU time per second. */
  sha256MBps: number;
  /** CPU microseconds for one 64-byte request and answer over a loopback TCP socket (both ends in one thread). */
  loopbackRoundTripUs: number;
  /** The same with the answering end in another thread: CPU of both threads, waking each other included. */
  crossThreadRoundTripUs: number;
};

const cpuUs = (): number => {
  const { user, system } = process.cpuUsage();
  return user + system;
};

/** Median of three timed rounds each, CPU time (not wall time, so a busy machine skews it less). */
export async function calibrate(): Promise<Calibration> {
  const block = Buffer.alloc(64 * 1024, 0x62);
  const hashOnce = () => createHash('sha256').update(block).digest();
  const hashUs = median([0, 1, 2].map(() => perCall(hashOnce, 400)));
  return {
    es256SignUs: es256SignUs(),
    sha256MBps: round(block.length / hashUs),
    loopbackRoundTripUs: round(await medianOfThree(() => withEchoServerHere((port) => loopbackRoundTrip(port, 2000)))),
    crossThreadRoundTripUs: round(await medianOfThree(() => withEchoServerInAThread((port) => loopbackRoundTrip(port, 2000)))),
  };
}

/**
 * CPU µs for one ES256 signature over an access token's size of input: the median of three rounds of
 * 1,000 (rounds of 300 varied by up to 40 % on an idle machine, of 1,000 by 9 %). Cheap enough (about
 * 0.2 s) to read again before each part of a run, where it shows a virtual machine's speed changing.
 */
export function es256SignUs(times = 1000): number {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const claims = Buffer.alloc(400, 0x61);
  const signOnce = () => sign('sha256', claims, { key: privateKey, dsaEncoding: 'ieee-p1363' });
  for (let i = 0; i < 100; i++) signOnce();
  return round(median([0, 1, 2].map(() => perCall(signOnce, times))));
}

/** The other end of each round trip: answers every chunk with itself. */
function echoServer(listening: (port: number) => void): net.Server {
  return net.createServer((socket) => {
    socket.setNoDelay(true);
    socket.on('data', (chunk) => socket.write(chunk));
  }).listen(0, '127.0.0.1', function (this: net.Server) {
    listening((this.address() as net.AddressInfo).port);
  });
}

// This module, started as a worker thread, runs only an echo server and says its port.
const ECHO_THREAD = 'calibration echo server';
if (!isMainThread && workerData === ECHO_THREAD) echoServer((port) => parentPort!.postMessage(port));

async function withEchoServerHere(measure: (port: number) => Promise<number>): Promise<number> {
  let server: net.Server | undefined;
  const port = await new Promise<number>((resolve) => { server = echoServer(resolve); });
  try {
    return await measure(port);
  } finally {
    await new Promise((resolve) => server!.close(resolve));
  }
}

async function withEchoServerInAThread(measure: (port: number) => Promise<number>): Promise<number> {
  const worker = new Worker(new URL(import.meta.url), { workerData: ECHO_THREAD });
  try {
    const port = await new Promise<number>((resolve, reject) => worker
      .once('message', resolve)
      .once('error', reject)
      .once('exit', (code) => reject(new Error(`the calibration echo thread exited (code ${code}) before listening`))));
    return await measure(port);
  } finally {
    await worker.terminate();
  }
}

/**
 * CPU µs per ping-pong over loopback TCP: two writes and two reads, as one NATS or HTTP hop costs at
 * least. process.cpuUsage() counts every thread, so an echo server in a worker thread is included.
 */
async function loopbackRoundTrip(port: number, times: number): Promise<number> {
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
  return used;
}

async function medianOfThree(measure: () => Promise<number>): Promise<number> {
  const results: number[] = [];
  for (let round = 0; round < 3; round++) results.push(await measure());
  return median(results);
}

function perCall(work: () => unknown, times: number): number {
  const start = cpuUs();
  for (let i = 0; i < times; i++) work();
  return (cpuUs() - start) / times;
}

const median = (values: number[]): number => values.sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
const round = (value: number): number => Number(value.toFixed(1));
