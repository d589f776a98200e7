// The floor under validate's latency: an endpoint that does nothing of the product's. It takes a
// request through the NATS services framework in the same queue group, decodes its JSON and
// answers a validate reply recorded from validation-service, so the bytes on the wire match.
// Driven by the same load thread through the same nats-server, its p99 is what the machine, NATS
// and the client library give any endpoint; validate's p99 above it is the product's own.
//
//   node bench/echo-endpoint.ts <nats-url>    (the reply in BENCH_ECHO_REPLY; prints "ready" once subscribed)
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { Svcm } from '@nats-io/services';
import { QUEUE_GROUP } from '#shared/nats/subjects.ts';
import { EXIT_WITH_PARENT } from '../scripts/start.ts';
import { connectBenchNats } from './nats-client.ts';

/** Only the benchmark's private nats-server carries it. */
export const ECHO_SUBJECT = 'bench.echo';
const READY = 'ready';
const START_TIMEOUT_MS = 15_000;
/** How long a stop waits for the endpoint to close its connection before killing it. */
const STOP_TIMEOUT_MS = 5_000;

export type EchoEndpoint = { pid: number; stop(): Promise<void> };

/** Starts the endpoint as a process of its own (as validation-service is), answering `reply` to every request. */
export async function startEchoEndpoint(natsUrl: string, reply: string): Promise<EchoEndpoint> {
  const child = spawn(process.execPath, ['--import', EXIT_WITH_PARENT, fileURLToPath(import.meta.url), natsUrl], {
    env: { ...process.env, BENCH_ECHO_REPLY: reply },
    // Its stdin is a pipe from us: when it ends (we exited, however), the endpoint stops too.
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  // Settled once the process is gone; a failed spawn ('error') is reported by untilReady instead.
  const exited = once(child, 'exit').catch(() => undefined);
  try {
    await untilReady(child);
  } catch (error) {
    child.kill('SIGKILL');
    throw error;
  }
  return {
    pid: child.pid!,
    stop: async () => {
      child.kill('SIGTERM');
      const gone = await Promise.race([exited.then(() => true), sleep(STOP_TIMEOUT_MS, false, { ref: false })]);
      if (!gone) child.kill('SIGKILL');
    },
  };
}

/** Resolves when the endpoint prints its ready line; rejects if it fails to start, exits or takes too long. */
function untilReady(child: ChildProcess): Promise<void> {
  return new Promise((resolve, reject) => {
    const lines = createInterface({ input: child.stdout! });
    const settle = (error?: Error) => {
      clearTimeout(timer);
      lines.close();
      child.stdout!.resume(); // drained from here on, so the endpoint never blocks on a full pipe
      child.off('exit', onExit).off('error', settle);
      if (error) reject(error);
      else resolve();
    };
    const onExit = (code: number | null) => settle(new Error(`the echo endpoint exited (code ${code}) before it was ready`));
    const timer = setTimeout(() => settle(new Error(`the echo endpoint was not ready within ${START_TIMEOUT_MS / 1000} s`)), START_TIMEOUT_MS);
    child.once('exit', onExit).once('error', settle);
    lines.on('line', (line) => {
      if (line === READY) settle();
    });
  });
}

async function serve(natsUrl: string, reply: string): Promise<void> {
  const nc = await connectBenchNats({ servers: [natsUrl] }, 'bench echo endpoint');
  const service = await new Svcm(nc).add({ name: 'bench-echo', version: '1.0.0', queue: QUEUE_GROUP });
  const answer = new TextEncoder().encode(reply);
  const decoder = new TextDecoder('utf-8', { fatal: true });
  service.addEndpoint('echo', {
    subject: ECHO_SUBJECT,
    handler: (error, msg) => {
      if (error) return;
      // Decoded as validation-service decodes a request; answered from a microtask, as an async handler's await does.
      JSON.parse(decoder.decode(msg.data));
      queueMicrotask(() => msg.respond(answer));
    },
  });
  await nc.flush();
  process.stdout.write(`${READY}\n`);
  process.once('SIGTERM', () => void nc.close().finally(() => process.exit(0)));
}

if (import.meta.main) {
  const [natsUrl] = process.argv.slice(2);
  const reply = process.env.BENCH_ECHO_REPLY;
  if (!natsUrl || !reply) {
    process.stderr.write('usage: BENCH_ECHO_REPLY=<json> node bench/echo-endpoint.ts <nats-url>\n');
    process.exit(2);
  }
  await serve(natsUrl, reply);
}
