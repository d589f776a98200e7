// Recording a revocation (DESIGN "Grant state"): durable before anyone is told. The record is
// stored first (an instance that starts later, or one that missed the broadcast, loads it from
// there), then applied to this instance's own RevocationSet at once, then broadcast to every
// instance of validation-service and token-service. A failed broadcast is logged, not thrown:
// readers resync from the records, so it delays the revocation there by at most the resync period.
import { epochSeconds, type Clock } from '#shared/clock.ts';
import type { Logger } from '#shared/logger.ts';
import type { RevocationRecorded } from '#shared/contracts/revocation-recorded.ts';
import { toRevocationRecord } from '#shared/grants/revocation-feed.ts';
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

/** The wire form of a revocation (oauth.revocation.recorded). */
export const revocationRecorded = (r: Revocation): RevocationRecorded => ({
  kind: r.kind, key: r.key,
  issued_before: epochSeconds(r.issuedBefore), issued_before_ms: r.issuedBefore.getTime(), expires_at: Math.ceil(r.expiresAt.getTime() / 1000),
});

/** The RecordRevocation the domain modules are handed. */
export function revocationRecorder(deps: Deps): RecordRevocation {
  return async (revocation) => {
    await deps.store.recordRevocation(revocation, deps.clock.now());
    deps.local?.record(toRevocationRecord(revocation));
    try {
      deps.publish(revocationRecorded(revocation));
    } catch (error) {
      // Stored already: the other instances pick it up when they next resync.
      deps.log.error({ err: error, kind: revocation.kind }, 'could not broadcast a revocation');
    }
  };
}
