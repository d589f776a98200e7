import { connect } from '@nats-io/transport-node';
import type { NatsConnection } from '@nats-io/nats-core';
import type { CommonConfig } from '#shared/config.ts';
import type { Logger } from '#shared/logger.ts';
import { randomToken } from '#shared/crypto.ts';
import { linkRenewedNow } from './request.ts';

export type { NatsConnection };

/**
 * Connects with unlimited reconnects, a 15 s ping interval and an inbox prefix of the service's
 * own, and logs link changes. The first connection is awaited (with retries) so a service never
 * starts half-wired.
 */
export async function connectNats(config: CommonConfig, name: string, log: Logger): Promise<NatsConnection> {
  const nc = await connect({
    servers: config.NATS_URL.split(',').map((s) => s.trim()),
    name,
    user: config.NATS_USER,
    pass: config.NATS_PASSWORD,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 500,
    pingInterval: 15_000,
    waitOnFirstConnect: true,
    inboxPrefix: `_INBOX.${name}.${randomToken(8)}`,
    // Without this the client builds an Error (capturing a stack) for every request and JetStream
    // publish, in case it times out: a measurable share of a hot path's CPU (see docs/performance.md).
    noAsyncTraces: true,
  });
  void (async () => {
    for await (const status of nc.status()) {
      if (status.type === 'disconnect' || status.type === 'reconnect' || status.type === 'error') {
        log.warn({ nats: status.type, detail: (status as { error?: Error }).error?.message }, 'nats link status changed');
      }
      // Requests sent before the link was lost are sent again within their deadline (request.ts).
      if (status.type === 'reconnect') linkRenewedNow(nc);
    }
  })();
  return nc;
}

/** True while the NATS link is up (for /readyz). */
export const natsReady = (nc: NatsConnection): boolean => !nc.isClosed() && !nc.isDraining() && nc.info !== undefined && isConnected(nc);

function isConnected(nc: NatsConnection): boolean {
  // The transport exposes no public "connected" flag; a connection with a current server that is not reconnecting counts.
  const protocol = (nc as unknown as { protocol?: { connected?: boolean } }).protocol;
  return protocol?.connected ?? true;
}
