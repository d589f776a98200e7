// Recording a revocation (DESIGN "Grant state"): durable before the caller is told. The record is
// stored (retried on a blip; an instance that starts later, or one that missed the broadcast, loads
// it from there), applied to this instance's own RevocationSet, and broadcast to every instance of
// validation-service and token-service. The set and the broadcast get it even when storing fails
// (refusing more at once is safe), and the failure is then passed on: the caller is not told the
// revocation is durable. A failed broadcast is logged, not thrown: readers resync from the records.
import type { Clock } from '#shared/clock.ts';
import type { Logger } from '#shared/logger.ts';
import type { RevocationRecorded } from '#shared/contracts/revocation-recorded.ts';
import { toRevocationRecord, toRevocationRecorded } from '#shared/grants/revocation-feed.ts';
import type { RevocationSet } from '#shared/grants/revocation-set.ts';
import type { RecordRevocation } from './revoke-grant.ts';
import type { Revocation, TokenStore } from './store.ts';

export type Deps = {
  store: Pick<TokenStore, 'recordRevocation'>;
  /** Broadcasts the record (oauth.revocation.recorded); may throw when the connection is closed. */
  publish(recorded: RevocationRecorded): void;
  clock: Clock;
  log: Pick<Logger, 'error'>;
  /** This instance's own set, when it keeps one. */
  local?: Pick<RevocationSet, 'record'>;
};

/** The RecordRevocation the domain modules are handed. */
export function revocationRecorder(deps: Deps): RecordRevocation {
  return async (revocation) => {
    const stored = await storeWithRetries(deps, revocation).then(() => undefined, (error: unknown) => ({ error }));
    deps.local?.record(toRevocationRecord(revocation));
    try {
      deps.publish(toRevocationRecorded(revocation));
    } catch (error) {
      // The other instances pick a stored record up when they next resync.
      deps.log.error({ err: error, kind: revocation.kind }, 'could not broadcast a revocation');
    }
    if (stored) {
      deps.log.error({ err: stored.error, kind: revocation.kind }, 'could not store a revocation (applied and broadcast, not durable)');
      throw stored.error;
    }
  };
}

/** Pauses before each retry of a failed store: a database blip is usually over within them. */
const RETRY_DELAYS_MS = [50, 250];

async function storeWithRetries(deps: Deps, revocation: Revocation): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await deps.store.recordRevocation(revocation, deps.clock.now());
    } catch (error) {
      const delay = RETRY_DELAYS_MS[attempt];
      if (delay === undefined) throw error;
      await new Promise((resolve) => setTimeout(resolve, delay));
    }
  }
}
