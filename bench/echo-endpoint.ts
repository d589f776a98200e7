// The floor under validate's latency: an endpoint that does nothing of the product's. It takes a
// request through the NATS services framework in the same queue group, decodes its JSON and
// answers a validate reply recorded from validation-service, so the bytes on the wire match.
// Driven by the same load thread through the same nats-server, its p99 is what the machine, NATS
// and the client library give any endpoint; validate's p99 above it is the product's own.
//
//   node bench/echo-endpoint.ts <nats-url>    (the reply in BENCH_ECHO_REPLY; prints "ready" once subscribed)
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { Svcm } from '@nats-io/services';
import { QUEUE_GROUP } from '#shared/nats/subjects.ts';
import { connectBenchNats } from './nats-client.ts';

/** Only the benchmark's private nats-server carries it. */
export const ECHO_SUBJECT = 'bench.echo';
const READY = 'ready';
const START_TIMEOUT_MS = 15_000;

export type EchoEndpoint = { pid: number; stop(): Promise<void> };

/** Starts the endpoint as a process of its own (as validation-service is), answering `reply` to every request. */
export async function startEchoEndpoint(natsUrl: string, reply: string): Promise<EchoEndpoint> {
  const child = spawn(process.execPath, [fileURLToPath(import.meta.url), natsUrl], {
    env: { ...process.env, BENCH_ECHO_REPLY: reply },
    // Its stdin is a pipe from us: when it ends (we exited, however), the endpoint stops too.
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const exited = once(child, 'exit');
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
      await exited;
    },
  };
}

function untilReady(child: ChildProcess): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the echo endpoint was not ready within ${START_TIMEOUT_MS / 1000} s`)), START_TIMEOUT_MS);
    child.once('exit', (code) => reject(new Error(`the echo endpoint exited (code ${code}) before it was ready`)));
    child.stdout!.setEncoding('utf8').on('data', (text: string) => {
      if (!text.includes(READY)) return;
      clearTimeout(timer);
      resolve();
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
      // Decoded as validation-service decodes a request; answered a turn later, as an async handler answers.
      JSON.parse(decoder.decode(msg.data));
      queueMicrotask(() => msg.respond(answer));
    },
  });
  await nc.flush();
  process.stdout.write(`${READY}\n`);
  process.once('SIGTERM', () => void nc.close().finally(() => process.exit(0)));
  process.stdin.on('end', () => process.kill(process.pid, 'SIGTERM')).resume().unref();
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
