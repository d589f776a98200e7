// consent-ui's store with its two hot reads (the session, the remembered consent) answered from
// RecentReads, and every write that changes one of them dropping it here at once and, through
// oauth.consent_ui.changed, in every other instance.
import type { NatsConnection, Subscription } from '@nats-io/nats-core';
import { checker } from '#shared/contracts/checker.ts';
import { ConsentUiChangedSchema, type ConsentUiChanged } from '#shared/contracts/consent-ui-changed.ts';
import type { Logger } from '#shared/logger.ts';
import { parseJson } from '#shared/nats/add-endpoint.ts';
import { Subjects } from '#shared/nats/subjects.ts';
import { RecentReads } from './recent-reads.ts';
import { consentId, type ConsentDoc, type ConsentUiStore, type SessionDoc } from './store.ts';

const changed = checker(ConsentUiChangedSchema);

export type CacheOptions = { maxAgeMs: number; maxEntries: number };

export function cacheHotReads(store: ConsentUiStore, nc: NatsConnection, log: Logger, options: CacheOptions): { store: ConsentUiStore; subscription: Subscription } {
  const sessions = new RecentReads<SessionDoc>(options);
  const consents = new RecentReads<ConsentDoc>(options);
  const forget = ({ kind, key }: ConsentUiChanged) => (kind === 'session' ? sessions : consents).forget(key);
  const subscription = nc.subscribe(Subjects.consentUiChanged, {
    callback: (_error, msg) => {
      const event = changed.parse(parseJson(msg.data));
      if (event) forget(event);
      else log.warn('ignored a malformed consent-ui change broadcast');
    },
  });
  /** Dropped here before the write returns; elsewhere as soon as the broadcast arrives. */
  const announce = (event: ConsentUiChanged) => {
    forget(event);
    try {
      nc.publish(Subjects.consentUiChanged, JSON.stringify(event));
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
