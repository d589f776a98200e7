// What every service opens at start and closes at stop: logger, metrics, NATS, MongoDB, the
// audit stream and publisher. Close order: audit in flight, then NATS drained, then MongoDB.
import { Svcm, type Service } from '@nats-io/services';
import type { CommonConfig } from '#shared/config.ts';
import { createLogger, type DestinationStream, type Logger } from '#shared/logger.ts';
import { createMetrics, type Metrics } from '#shared/metrics.ts';
import { connectNats, natsReady, type NatsConnection } from '#shared/nats/connect.ts';
import { QUEUE_GROUP } from '#shared/nats/subjects.ts';
import { connectMongo, mongoReady, type Mongo } from '#shared/mongo.ts';
import { ensureAuditStream } from '#shared/audit/audit-stream.ts';
import { AuditPublisher } from '#shared/audit/publish-audit-event.ts';
import packageJson from '../package.json' with { type: 'json' };

export type ServiceBase = {
  name: string;
  log: Logger;
  metrics: Metrics;
  nc: NatsConnection;
  mongo: Mongo;
  audit: AuditPublisher;
  ready(): Promise<Record<string, boolean>>;
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
  const nc = await connectNats(config, name, log);
  let mongo: Mongo;
  try {
    mongo = await connectMongo(config, name, config.BENCH_COUNT_DB_COMMANDS ? { onCommand: (command) => metrics.countDbCommand(command) } : {});
  } catch (error) {
    await nc.close();
    throw error;
  }
  const audit = new AuditPublisher(nc, mongo.db, log, `urn:oauth:${name}`);
  if (emitsAudit) {
    // The relay reads the outbox unfiltered and deletes by `_id`: no index of its own (one less per insert).
    await ensureAuditStream(nc, { retentionDays: config.AUDIT_RETENTION_DAYS, replicas: config.AUDIT_STREAM_REPLICAS });
    audit.startRelay();
  }
  const services: Service[] = [];

  return {
    name, log, metrics, nc, mongo, audit,
    ready: async () => ({ nats: natsReady(nc), mongodb: await mongoReady(mongo.db, 1000) }),
    natsService: async (description) => {
      const service = await new Svcm(nc).add({ name, version: packageJson.version, description, queue: QUEUE_GROUP });
      services.push(service);
      return service;
    },
    close: async () => {
      await Promise.allSettled(services.map((s) => s.stop()));
      await audit.flush();
      await nc.drain().catch(() => nc.close());
      await mongo.client.close();
    },
  };
}

/**
 * A started service's handle, stopping in one order for every service: the HTTP edge closes (its
 * in-flight requests finish), then the service's own timers and subscriptions stop, then the base
 * (audit in flight, NATS drained, MongoDB).
 */
export function startedService(base: Pick<ServiceBase, 'close'>, port: number, http: { close(): Promise<unknown> }, stops: (() => void)[]) {
  return {
    port,
    stop: async (): Promise<void> => {
      await http.close();
      for (const stop of stops) stop();
      await base.close();
    },
  };
}
