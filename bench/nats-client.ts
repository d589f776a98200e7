// The benchmark's own NATS clients. It shares the machine with the system it measures, so its
// clients are as light as the services' (shared/nats/connect.ts): without noAsyncTraces the client
// builds two Errors (capturing stacks) for every request in case it fails, CPU the validate load
// thread would take from the system measured (docs/performance.md, 3 December).
import { connect } from '@nats-io/transport-node';
import type { NatsConnection } from '@nats-io/nats-core';

export type NatsConnectionSettings = { servers: string[]; user?: string; pass?: string };

export function connectBenchNats(settings: NatsConnectionSettings, name: string): Promise<NatsConnection> {
  return connect({ ...settings, name, noAsyncTraces: true });
}
