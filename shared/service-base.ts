// What every service opens at start and closes at stop: logger, metrics, NATS, MongoDB, the
// audit stream and publisher. Stop order (startedService): not ready at once and no new NATS
// requests taken; HTTP served on through the drain delay, then closed (in-flight requests
// finish); NATS requests in flight answered; timers stop; audit in flight, NATS drained, MongoDB.
import { Svcm, type Service } from '@nats-io/services';
import type { CommonConfig } from '#shared/config.ts';
import { createLogger, type DestinationStream, type Logger } from '#shared/logger.ts';
import { createMetrics, type ServiceMetrics } from '#shared/metrics.ts';
import { connectNats, natsReady, type NatsConnection } from '#shared/nats/connect.ts';
import { QUEUE_GROUP } from '#shared/nats/subjects.ts';
import { connectMongo, mongoReady, type Mongo } from '#shared/mongo.ts';
import { ensureAuditStream } from '#shared/audit/audit-stream.ts';
import { AuditPublisher } from '#shared/audit/publish-audit-event.ts';
import { inFlight, observeEndpoints } from '#shared/nats/add-endpoint.ts';
import { startTracing } from '#shared/tracing.ts';
import packageJson from '../package.json' with { type: 'json' };

export type ServiceBase = {
  name: string;
  log: Logger;
  metrics: ServiceMetrics;
  nc: NatsConnection;
  mongo: Mongo;
  audit: AuditPublisher;
  /** NATS and MongoDB reachable; from the first moment of shutdown also `{ accepting: false }` (not ready). */
  ready(): Promise<Record<string, boolean>>;
  /** True from the first moment of shutdown (HTTP responses then close their connection). */
  stopping(): boolean;
  /**
   * The first step of a shutdown: not ready from now on, and the NATS service subscriptions drained,
   * so the queue group's other members get every new request. Resolves when the requests this
   * instance took have been answered.
   */
  stopTakingRequests(): Promise<void>;
  /** Declares this service on NATS ($SRV.INFO), queue group "q". */
  natsService(description: string): Promise<Service>;
  close(): Promise<void>;
};

/** What a caller of a service's `start(config, options)` may add (tests capture the logs). */
export type StartOptions = {
  /** Where the service's log lines go; stdout by default. */
  logStream?: DestinationStream;
};

/** What a service does on NATS beyond its endpoints. */
export type ServiceRole = {
  /**
   * False for a service that emits no audit event (validation-service): it neither creates the
   * audit stream nor relays the outbox, so its NATS user needs no right on `oauth.audit.>` or `$JS.API`.
   */
  emitsAudit?: boolean;
};

export async function openServiceBase(name: string, config: CommonConfig, options: StartOptions = {}, role: ServiceRole = {}): Promise<ServiceBase> {
  const emitsAudit = role.emitsAudit ?? true;
  const log = createLogger(name, config.LOG_LEVEL, options.logStream);
  const metrics = createMetrics(name);
  // First: the database client is instrumented only if tracing is on when it connects.
  const stopTracing = await startTracing(name, config);
  let nc: NatsConnection | undefined;
  let mongo: Mongo;
  try {
    nc = await connectNats(config, name, log);
    mongo = await connectMongo(config, name, config.BENCH_COUNT_DB_COMMANDS ? { onCommand: (command) => metrics.countDbCommand(command) } : {});
  } catch (error) {
    await nc?.close();
    await stopTracing();
    throw error;
  }
  const audit = new AuditPublisher(nc, mongo.db, log, `urn:oauth:${name}`, { observeOutboxWrites: metrics.observeGroupCommit, observeAck: metrics.observeAuditAck });
  if (emitsAudit) {
    try {
      // The relay reads the outbox unfiltered and deletes by `_id`: no index of its own (one less per insert).
      await ensureAuditStream(nc, { retentionDays: config.AUDIT_RETENTION_DAYS, replicas: config.AUDIT_STREAM_REPLICAS });
    } catch (error) {
      await closeConnections(nc, mongo, stopTracing).catch((closeError: unknown) => log.warn({ err: closeError }, 'could not close the connections of a failed start'));
      throw error;
    }
    audit.startRelay();
    observeOutbox(metrics, audit);
  }
  const services: Service[] = [];
  let stopping = false;
  const stopTakingRequests = async () => {
    stopping = true;
    await Promise.allSettled(services.map((s) => s.stop()));
    await Promise.all(services.map((s) => inFlight(s).idle()));
  };

  return {
    name, log, metrics, nc, mongo, audit,
    ready: async () => {
      const checks = { nats: natsReady(nc), mongodb: await mongoReady(mongo.db, 1000) };
      return stopping ? { ...checks, accepting: false } : checks;
    },
    stopping: () => stopping,
    stopTakingRequests,
    natsService: async (description) => {
      const service = await new Svcm(nc).add({ name, version: packageJson.version, description, queue: QUEUE_GROUP });
      services.push(service);
      observeEndpoints(service, metrics.natsEndpointObserver);
      return service;
    },
    // Whatever fails on the way, the audit events in flight end acked or in the outbox, and the
    // connections are closed: an open one would keep the process alive.
    close: async () => {
      try {
        await stopTakingRequests();
      } finally {
        await audit.flush();
        await closeConnections(nc, mongo, stopTracing);
      }
    },
  };
}

/** NATS drained, MongoDB closed, tracing stopped: whichever fails, the others are still closed. */
async function closeConnections(nc: NatsConnection, mongo: Mongo, stopTracing: () => Promise<void>): Promise<void> {
  await nc.drain().catch(() => nc.close());
  try {
    await mongo.client.close();
  } finally {
    await stopTracing();
  }
}

/** The outbox gauges, read when /metrics is scraped; the two gauges of one scrape share one backlog read. */
function observeOutbox(metrics: ServiceMetrics, audit: AuditPublisher): void {
  let backlog: Promise<{ depth: number; oldestAgeSeconds: number }> | undefined;
  const read = () => (backlog ??= audit.backlog().finally(() => setTimeout(() => (backlog = undefined), 1000).unref()));
  metrics.gauge('audit_outbox_events', 'Audit events waiting in the outbox (JetStream did not ack them yet)', async () => (await read()).depth);
  metrics.gauge('audit_outbox_oldest_age_seconds', 'Age of the oldest audit event in the outbox: how far the relay is behind (0 when empty)',
    async () => (await read()).oldestAgeSeconds);
}

/** What a service's start hands over once it serves: its HTTP server and the port it listens on. */
export type Serving = { port: number; http: { close(): Promise<unknown> } };

/**
 * The rest of a service's start, on its open base. `run` registers a stop for each part it starts
 * (timers, subscriptions), and listens after every step that can fail. If a step fails (the port
 * taken, the database gone mid-start), no more NATS requests are taken, the parts started so far
 * are stopped and the base closed before the error goes on, so a failed start leaves no
 * connection or timer behind to keep the process alive.
 */
export async function startOnBase(
  base: Pick<ServiceBase, 'close' | 'stopTakingRequests' | 'log'>,
  settings: ShutdownSettings,
  run: (onStop: (stop: () => unknown) => void) => Promise<Serving>,
) {
  const stops: (() => unknown)[] = [];
  try {
    const { port, http } = await run((stop) => void stops.push(stop));
    return startedService(base, port, http, stops.toReversed(), settings);
  } catch (error) {
    // As a stop would: no NATS request taken first, then the parts, then the base. Whatever fails
    // here is logged, and the start's own error is the one the caller gets.
    const steps = [() => base.stopTakingRequests(), ...stops.toReversed(), () => base.close()];
    for (const step of steps) {
      try {
        await step();
      } catch (stopError) {
        base.log.warn({ err: stopError }, 'a part of a failed start did not stop');
      }
    }
    throw error;
  }
}

/** How a started service shuts down (SHUTDOWN_DRAIN_DELAY_MS and SHUTDOWN_TIMEOUT_MS). */
export type ShutdownSettings = { SHUTDOWN_DRAIN_DELAY_MS?: number; SHUTDOWN_TIMEOUT_MS?: number };

/**
 * A started service's handle, stopping in one order for every service, so that a rolling restart
 * loses no request:
 * 1. at once: /readyz answers 503 and the NATS service subscriptions are drained (the queue
 *    group's other members get new requests; those taken are still answered);
 * 2. HTTP is served as usual for SHUTDOWN_DRAIN_DELAY_MS (a load balancer that polls /readyz stops
 *    sending here meanwhile), every response closing its keep-alive connection;
 * 3. the HTTP server closes: no new connection, idle keep-alive connections closed, requests in
 *    flight (or arriving on a connection still open) served to the end;
 * 4. the NATS requests in flight are answered, the service's own timers and subscriptions stop,
 *    then the base (audit in flight, NATS drained, MongoDB).
 */
export function startedService(
  base: Pick<ServiceBase, 'close' | 'stopTakingRequests' | 'log'>,
  port: number,
  http: { close(): Promise<unknown> },
  stops: (() => void)[],
  settings: ShutdownSettings = {},
) {
  let stopped: Promise<void> | undefined;
  // A step that fails is logged and the stop goes on, so NATS and MongoDB are closed in any case;
  // the stop then fails with every step's error (the process exits non-zero).
  const stop = async (): Promise<void> => {
    const failures: unknown[] = [];
    const step = async (name: string, run: () => unknown) => {
      try {
        await run();
      } catch (error) {
        failures.push(error);
        base.log.warn({ err: error, step: name }, 'a stop step failed; stopping the rest');
      }
    };
    const natsDrained = base.stopTakingRequests();
    await step('delay', () => drainDelay(settings));
    await step('close http', () => http.close());
    await step('finish nats requests', () => natsDrained);
    for (const [i, cleanup] of stops.entries()) await step(`cleanup ${i + 1}`, cleanup);
    await base.close();
    if (failures.length > 0) throw new AggregateError(failures, `${failures.length} stop step(s) failed`);
  };
  return { port, stop: (): Promise<void> => (stopped ??= stop()) };
}

/** SHUTDOWN_DRAIN_DELAY_MS, kept to at most half of SHUTDOWN_TIMEOUT_MS so the rest of the stop fits in it. */
function drainDelay({ SHUTDOWN_DRAIN_DELAY_MS = 0, SHUTDOWN_TIMEOUT_MS = 10_000 }: ShutdownSettings): Promise<void> {
  const ms = Math.min(SHUTDOWN_DRAIN_DELAY_MS, Math.floor(SHUTDOWN_TIMEOUT_MS / 2));
  return ms > 0 ? new Promise((resolve) => setTimeout(resolve, ms)) : Promise.resolve();
}
