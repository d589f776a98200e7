// consent-ui's store with its two hot reads (the session, the remembered consent) answered from
// RecentReads, and every write that changes one of them dropping it here at once and, through
// the change broadcast (oauth.consent_ui.changed, nats-client.ts), in every other instance.
import type { ConsentUiChanged } from '#shared/contracts/consent-ui-changed.ts';
import type { Logger } from '#shared/logger.ts';
import { RecentReads } from './recent-reads.ts';
import { consentId, type ConsentDoc, type ConsentUiStore, type SessionDoc } from './store.ts';

/** Tells the other instances what changed, and hears what they changed. */
export type ChangeBroadcast = {
  publish(event: ConsentUiChanged): void;
  subscribe(onChange: (event: ConsentUiChanged) => void): { unsubscribe(): void };
};

export type CacheOptions = { maxAgeMs: number; maxEntries: number };

export function cacheHotReads(
  store: ConsentUiStore,
  broadcast: ChangeBroadcast,
  log: Logger,
  options: CacheOptions,
): { store: ConsentUiStore; subscription: { unsubscribe(): void } } {
  const sessions = new RecentReads<SessionDoc>(options);
  const consents = new RecentReads<ConsentDoc>(options);
  const forget = ({ kind, key }: ConsentUiChanged) => (kind === 'session' ? sessions : consents).forget(key);
  const subscription = broadcast.subscribe(forget);
  /** Dropped here before the write returns; elsewhere as soon as the broadcast arrives. */
  const announce = (event: ConsentUiChanged) => {
    forget(event);
    try {
      broadcast.publish(event);
    } catch (error) {
      log.warn({ err: error }, 'could not announce a consent-ui change; other instances see it within their cache age');
    }
  };

  const cached: ConsentUiStore = {
    ...store,
    findSession: async (idHash, now) => {
      const doc = await sessions.get(idHash, () => store.findSession(idHash, now));
      return doc && doc.expiresAt > now ? doc : null;
    },
    deleteSession: async (idHash) => {
      await store.deleteSession(idHash);
      announce({ kind: 'session', key: idHash });
    },
    findConsent: (sub, clientId) => consents.get(consentId(sub, clientId), () => store.findConsent(sub, clientId)),
    recordGrant: async (sub, clientId, scopes, remember, now) => {
      await store.recordGrant(sub, clientId, scopes, remember, now);
      announce({ kind: 'consent', key: consentId(sub, clientId) });
    },
    deleteConsent: async (sub, clientId) => {
      const deleted = await store.deleteConsent(sub, clientId);
      announce({ kind: 'consent', key: consentId(sub, clientId) });
      return deleted;
    },
  };
  return { store: cached, subscription };
}
