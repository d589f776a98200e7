// The two hot reads of a signed-in owner's records (the session, the remembered consent) answered
// from RecentReads. A change made through any consent-ui instance drops the entry there at once
// and, through the change broadcast (changes.ts), here as soon as it arrives; the uncached read of
// the consent passes through.
import { Type } from '@sinclair/typebox';
import type { ConsentUiChanged } from '#shared/contracts/consent-ui-changed.ts';
import { RecentReads } from './recent-reads.ts';
import { consentId, type DatedConsent, type OwnerRecordReads, type SessionDoc } from './records.ts';
import type { ChangeBroadcast } from './changes.ts';

/**
 * HOT_READ_CACHE_MS, in the config of every service that keeps these reads: how long a session or
 * remembered consent read from the database is reused (0: never). Sign-out and consent changes reach
 * every instance at once by broadcast; this bounds staleness without it.
 */
export const HotReadCacheMsSetting = Type.Integer({ minimum: 0, maximum: 10_000, default: 2000 });

/** `maxEntries`: of each kind, oldest out first (10,000 by default). */
export type CacheOptions = { maxAgeMs: number; maxEntries?: number };

export type CachedOwnerReads = {
  reads: OwnerRecordReads;
  /** Drops what was read of the record a change names (here only; the caller broadcasts). */
  forget(event: ConsentUiChanged): void;
  /**
   * Drops every consent read: a revocation cut off grants by time, and a consent read before it
   * would date a new grant before the cut-off (answer-remembered.ts), which would then be refused.
   */
  forgetConsents(): void;
  subscription: { unsubscribe(): void };
};

export function cacheOwnerReads(reads: OwnerRecordReads, broadcast: Pick<ChangeBroadcast, 'subscribe'>, options: CacheOptions): CachedOwnerReads {
  const bounds = { maxAgeMs: options.maxAgeMs, maxEntries: options.maxEntries ?? 10_000 };
  const sessions = new RecentReads<SessionDoc>(bounds);
  // Kept with the time its read was sent, which a reuse answers with: what a code approved by it may say of its start.
  const consents = new RecentReads<DatedConsent>(bounds);
  const forget = ({ kind, key }: ConsentUiChanged) => (kind === 'session' ? sessions : consents).forget(key);
  const subscription = broadcast.subscribe(forget);
  const findConsentAsOf = async (sub: string, clientId: string, now: Date): Promise<DatedConsent> =>
    (await consents.get(consentId(sub, clientId), () => reads.findConsentAsOf(sub, clientId, now)))!;
  return {
    reads: {
      findSession: async (idHash, now) => {
        const doc = await sessions.get(idHash, () => reads.findSession(idHash, now));
        return doc && doc.expiresAt > now ? doc : null;
      },
      // Its time is never asked for (consent-ui reads again before a code leaves), so the system clock stamps it.
      findConsent: async (sub, clientId) => (await findConsentAsOf(sub, clientId, new Date())).consent,
      findConsentAsOf,
      findConsentUncached: reads.findConsentUncached,
    },
    forget,
    forgetConsents: () => consents.forgetAll(),
    subscription,
  };
}
