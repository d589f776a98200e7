// Prometheus metrics: one registry per service instance, default process metrics included.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export type Metrics = {
  contentType: string;
  render(): Promise<string>;
  observeHttp(route: string, method: string, status: number, seconds: number): void;
  count(name: string, labels?: Record<string, string>): void;
};

export type ServiceMetrics = Metrics & {
  /**
   * The observer of one endpoint's requests, made once per endpoint: each call records one request,
   * `outcome` being ok, an OAuth error code, or internal_error.
   */
  natsEndpointObserver(endpoint: string, subject: string): (outcome: string, seconds: number) => void;
  /**
   * A gauge read when /metrics is scraped (nothing on the hot path). `read` returning undefined, or
   * failing, leaves the last value: a scrape never fails because a source is away.
   */
  gauge(name: string, help: string, read: () => number | undefined | Promise<number | undefined>): void;
  /**
   * One grouped unique insert (shared/unique-inserts.ts) answered: `group_commit_write_seconds` and
   * `group_commit_documents_total` by collection. One write is in flight at a time per collection, so
   * the seconds summed over a minute say how busy that writer is, and their rise toward 60 is why the
   * requests behind it wait.
   */
  observeGroupCommit(collection: string, documents: number, seconds: number): void;
  /** JetStream's acknowledgement of one audit event arrived this long after its publish (`audit_publish_ack_seconds`). */
  observeAuditAck(seconds: number): void;
  /** Counts one MongoDB command by name (`mongodb_commands_total`); the counter appears at its first use. */
  countDbCommand(command: string): void;
};

const EVENT_LOOP_SAMPLE_MS = 100;

export function createMetrics(service: string): ServiceMetrics {
  const registry = new Registry();
  registry.setDefaultLabels({ service });
  // The event-loop delay histogram samples every EVENT_LOOP_SAMPLE_MS: prom-client's 10 ms default
  // woke each idle service about 100 times a second (1 % of a CPU each, doing nothing).
  collectDefaultMetrics({ register: registry, eventLoopMonitoringPrecision: EVENT_LOOP_SAMPLE_MS });
  const http = new Histogram({
    name: 'http_request_duration_seconds', help: 'HTTP requests by route and status',
    labelNames: ['route', 'method', 'status'], buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5], registers: [registry],
  });
  const events = new Counter({ name: 'oauth_events_total', help: 'Domain outcomes by name', labelNames: ['name', 'outcome'], registers: [registry] });
  const natsEndpoints = new Histogram({
    name: 'nats_endpoint_duration_seconds', help: 'NATS requests handled, by endpoint, subject and outcome (_count: requests; outcome other than ok: errors)',
    labelNames: ['endpoint', 'subject', 'outcome'], buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5], registers: [registry],
  });
  const groupCommitWrites = new Histogram({
    name: 'group_commit_write_seconds', help: 'Grouped unique inserts (claims, decisions, outbox): time each insert command was in flight, by collection',
    labelNames: ['collection'], buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1], registers: [registry],
  });
  const groupCommitDocuments = new Counter({
    name: 'group_commit_documents_total', help: 'Documents sent in grouped unique inserts (a duplicate or a failed insert\'s too), by collection', labelNames: ['collection'], registers: [registry],
  });
  const auditAcks = new Histogram({
    name: 'audit_publish_ack_seconds', help: 'Time from an audit event\'s publish to JetStream\'s acknowledgement (acked events only)',
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1], registers: [registry],
  });
  let dbCommands: Counter<'command'> | undefined;
  return {
    contentType: registry.contentType,
    render: () => registry.metrics(),
    observeHttp: (route, method, status, seconds) => http.observe({ route, method, status: String(status) }, seconds),
    count: (name, labels = {}) => events.inc({ name, outcome: labels.outcome ?? 'ok' }),
    natsEndpointObserver: (endpoint, subject) => {
      // One labelled child per outcome (a handful), found by the outcome alone: a message builds no
      // key of ours (the outcomes are literals, whose hashes V8 keeps); prom-client's observe still
      // builds its own label key per call, which it offers no way around.
      const children = new Map<string, { observe(seconds: number): void }>();
      return (outcome, seconds) => {
        let child = children.get(outcome);
        if (!child) children.set(outcome, (child = natsEndpoints.labels({ endpoint, subject, outcome })));
        child.observe(seconds);
      };
    },
    gauge: (name, help, read) => {
      new Gauge({
        name, help, registers: [registry],
        async collect() {
          const value = await Promise.resolve().then(read).catch(() => undefined);
          if (value !== undefined && Number.isFinite(value)) this.set(value);
        },
      });
    },
    observeGroupCommit: (collection, documents, seconds) => {
      groupCommitWrites.observe({ collection }, seconds);
      groupCommitDocuments.inc({ collection }, documents);
    },
    observeAuditAck: (seconds) => auditAcks.observe(seconds),
    countDbCommand: (command) => {
      dbCommands ??= new Counter({ name: 'mongodb_commands_total', help: 'MongoDB commands sent, by command name (only with BENCH_COUNT_DB_COMMANDS)', labelNames: ['command'], registers: [registry] });
      dbCommands.inc({ command });
    },
  };
}
