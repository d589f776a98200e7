// consent-ui's store with its two hot reads (the session, the remembered consent) answered from
// recent reads (#shared/signed-in/cached-reads.ts), and every write that changes one of them
// dropping it here at once and, through the change broadcast (oauth.consent_ui.changed), in every
// other instance that keeps them.
import type { ConsentUiChanged } from '#shared/contracts/consent-ui-changed.ts';
import type { Logger } from '#shared/logger.ts';
import type { ChangeBroadcast } from '#shared/signed-in/changes.ts';
import { cacheOwnerReads, type CacheOptions } from '#shared/signed-in/cached-reads.ts';
import { consentId } from '#shared/signed-in/records.ts';
import type { ConsentUiStore } from './store.ts';

export function cacheHotReads(
  store: ConsentUiStore,
  broadcast: ChangeBroadcast,
  log: Logger,
  options: CacheOptions,
): { store: ConsentUiStore; subscription: { unsubscribe(): void } } {
  const { reads, forget, subscription } = cacheOwnerReads(store, broadcast, options);
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
    ...reads,
    deleteSession: async (idHash) => {
      await store.deleteSession(idHash);
      announce({ kind: 'session', key: idHash });
    },
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
