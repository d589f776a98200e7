// oauth.token.validate load from a thread of its own, with its own NATS connection, as a resource
// server would send it. On the benchmark's main thread the requests shared an event loop with the
// fixture's database client, the services' output pipes and a heap of 100 MB or more, whose
// scavenges took 15–40 ms: the generator, using nearly a CPU, was the limit of the throughput
// measured and the source of much of the tail (docs/performance.md, December 2026). Its CPU is
// still counted: a thread is part of the benchmark's process.
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { runLoad, type LoadResult } from './load.ts';
import { connectBenchNats, type NatsConnectionSettings } from './nats-client.ts';

type Job = { nats: NatsConnectionSettings; subject: string; payloads: string[]; inFlight: number; seconds: number };

/** Runs `inFlight` validate requests to `subject` at a time for `seconds`, request i sending payloads[i % payloads.length]. */
export function validateFromThread(job: Job): Promise<LoadResult> {
  return new Promise((resolve, reject) => {
    const thread = new Worker(new URL(import.meta.url), { workerData: job });
    thread.once('message', (result: LoadResult) => resolve(result));
    thread.once('error', reject);
    thread.once('exit', (code) => reject(new Error(`the validate load thread exited (code ${code}) without a result`)));
  });
}

/** Throws unless a validate reply says the request is allowed (the benchmark's requests all are). */
export function expectAllowed(reply: string): void {
  if ((JSON.parse(reply) as { allowed?: boolean }).allowed !== true) throw new Error(`validation answered ${reply.slice(0, 120)}`);
}

async function runJob({ nats, subject, payloads, inFlight, seconds }: Job): Promise<LoadResult> {
  const nc = await connectBenchNats(nats, 'bench validate load');
  const encoder = new TextEncoder();
  const decoder = new TextDecoder();
  const slots = Array.from({ length: inFlight }, (_, i) => encoder.encode(payloads[i % payloads.length]!));
  try {
    return await runLoad(slots, seconds, async (payload) => {
      const reply = await nc.request(subject, payload, { timeout: 5000 });
      expectAllowed(decoder.decode(reply.data));
    });
  } finally {
    await nc.close();
  }
}

if (!isMainThread && parentPort) parentPort.postMessage(await runJob(workerData as Job));
