// OpenTelemetry traces: one trace per request, from the HTTP edge through every NATS hop to the
// database, exported over OTLP/HTTP (JSON) when OTEL_EXPORTER_OTLP_ENDPOINT is set.
//
// Off, it costs nothing: the SDK and the API are never imported, no span is made, and every
// function here returns at one `tracer === undefined` check. On, the current span travels with
// the async flow (AsyncLocalStorage), and between processes as a W3C `traceparent`: an HTTP header
// at the edge, a NATS header beside Request-Id.
//
// One tracer per process, named for its service. Services started together in one process (the
// in-process system tests) share the first one's; traces are tested with real processes.
import { AsyncLocalStorage } from 'node:async_hooks';
import type * as OtelApi from '@opentelemetry/api';
import type { Attributes, Context, Span, SpanContext, Tracer } from '@opentelemetry/api';
import packageJson from '../package.json' with { type: 'json' };

export type { Attributes, Span };
export type TracingConfig = { OTEL_EXPORTER_OTLP_ENDPOINT?: string | undefined; OTEL_SERVICE_NAME?: string | undefined };

type Api = typeof OtelApi;
let api: Api | undefined;
let tracer: Tracer | undefined;
/** The span of the work in progress (the parent of what it starts), per async flow; used only while tracing is on. */
const current = new AsyncLocalStorage<Context>();

/** True while spans are made and exported: the cheap check callers make before gathering attributes. */
export const tracingOn = (): boolean => tracer !== undefined;

/**
 * Starts tracing for this process when OTEL_EXPORTER_OTLP_ENDPOINT is set (the exporter reads it
 * and the other OTEL_EXPORTER_OTLP_* settings itself, and posts to `<endpoint>/v1/traces`), spans
 * batched (OTEL_BSP_* settings). Returns the stop, which sends what is still batched.
 */
export async function startTracing(serviceName: string, config: TracingConfig): Promise<() => Promise<void>> {
  if (!config.OTEL_EXPORTER_OTLP_ENDPOINT || tracer) return async () => {};
  const [otel, sdk, otlp, resources, semconv] = await Promise.all([
    import('@opentelemetry/api'), import('@opentelemetry/sdk-trace-base'), import('@opentelemetry/exporter-trace-otlp-http'),
    import('@opentelemetry/resources'), import('@opentelemetry/semantic-conventions'),
  ]);
  const provider = new sdk.BasicTracerProvider({
    resource: resources.resourceFromAttributes({
      [semconv.ATTR_SERVICE_NAME]: config.OTEL_SERVICE_NAME || serviceName,
      [semconv.ATTR_SERVICE_VERSION]: packageJson.version,
    }),
    spanProcessors: [new sdk.BatchSpanProcessor(new otlp.OTLPTraceExporter())],
  });
  api = otel;
  tracer = provider.getTracer(packageJson.name, packageJson.version);
  return async () => {
    tracer = undefined;
    await provider.shutdown().catch(() => undefined);
  };
}

/**
 * A span for work another process asked for (an HTTP request, a NATS request): the child of the
 * `traceparent` it sent, when valid, else the root of a new trace.
 */
export function startServerSpan(name: string, attributes: Attributes, traceparent: string | undefined): Span | undefined {
  if (!tracer) return undefined;
  return tracer.startSpan(name, { kind: api!.SpanKind.SERVER, attributes }, remoteParent(api!, traceparent));
}

/**
 * A span for a call this process makes (a NATS request, a database command) within traced work;
 * none outside it, so background timers (sweeps, relays, resyncs) do not each start a trace.
 */
export function startChildSpan(name: string, attributes: Attributes): Span | undefined {
  const parent = tracer ? current.getStore() : undefined;
  if (!parent) return undefined;
  return tracer!.startSpan(name, { kind: api!.SpanKind.CLIENT, attributes }, parent);
}

/** Runs `work` with `span` as the current span (the parent of the spans it starts); just runs it without one. */
export function runInSpan<T>(span: Span | undefined, work: () => T): T {
  return span ? current.run(api!.trace.setSpan(api!.ROOT_CONTEXT, span), work) : work();
}

/** Ends `span` (if any), with final attributes, and marked as failed when `failed`. */
export function endSpan(span: Span | undefined, attributes?: Attributes, failed = false): void {
  if (!span) return;
  if (attributes) span.setAttributes(attributes);
  if (failed) span.setStatus({ code: api!.SpanStatusCode.ERROR });
  span.end();
}

/** The W3C traceparent that makes the receiver's span a child of `span`. */
export function traceparentOf(span: Span): string {
  const { traceId, spanId, traceFlags } = span.spanContext();
  return `00-${traceId}-${spanId}-${(traceFlags & 0xff).toString(16).padStart(2, '0')}`;
}

// W3C Trace Context §3.2: version-traceid-parentid-flags, lower-case hex; later versions may append fields.
const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/;

/** The context of a received traceparent; the root context for a missing or invalid one (a new trace starts). */
export function remoteParent(otel: Pick<Api, 'ROOT_CONTEXT' | 'trace'>, traceparent: string | undefined): Context {
  const match = traceparent !== undefined && traceparent.length <= 256 ? TRACEPARENT.exec(traceparent) : null;
  // Version ff is invalid, and version 00 has exactly four fields.
  if (!match || match[1] === 'ff' || (match[1] === '00' && match[5] !== undefined)) return otel.ROOT_CONTEXT;
  const parent: SpanContext = { traceId: match[2]!, spanId: match[3]!, traceFlags: Number.parseInt(match[4]!, 16) & 1, isRemote: true };
  // All-zero trace or parent ids are invalid.
  return otel.trace.isSpanContextValid(parent) ? otel.trace.setSpanContext(otel.ROOT_CONTEXT, parent) : otel.ROOT_CONTEXT;
}
