// NATS side of token-service: the consent revocation endpoint, the revocation broadcast to
// validation-service, and the `keys` announcement that makes the key ring reload.
import type { Service } from '@nats-io/services';
import type { NatsConnection, Subscription } from '@nats-io/nats-core';
import type { Logger } from '#shared/logger.ts';
import { epochSeconds } from '#shared/clock.ts';
import { addEndpoint, parseJson } from '#shared/nats/add-endpoint.ts';
import { Subjects } from '#shared/nats/subjects.ts';
import { checker } from '#shared/contracts/checker.ts';
import { ConsentRevokeRequestSchema, type ConsentRevokeReply } from '#shared/contracts/consent-revoke.ts';
import { ReferenceDataChangedSchema } from '#shared/contracts/reference-data-changed.ts';
import type { RevocationRecorded } from '#shared/contracts/revocation-recorded.ts';
import { revokeConsent, type Deps as RevokeConsentDeps } from './revoke-consent.ts';
import type { RecordRevocation } from './revoke-grant.ts';
import type { Revocation, TokenStore } from './store.ts';
import type { RevocationSet } from '#shared/grants/revocation-set.ts';
import { toRevocationRecord } from '#shared/grants/revocation-feed.ts';

export function registerEndpoints(service: Service, log: Logger, deps: { revokeConsent: RevokeConsentDeps }): void {
  addEndpoint(service, log, {
    name: 'consent-revoke',
    subject: Subjects.consentRevoke,
    schemaName: `${Subjects.consentRevoke}/1`,
    request: checker(ConsentRevokeRequestSchema),
    handle: async ({ sub, client_id }): Promise<ConsentRevokeReply> => {
      const { revokedFamilies } = await revokeConsent(deps.revokeConsent, { sub, clientId: client_id });
      return { revoked_families: revokedFamilies };
    },
  });
}

/** The wire form of a revocation (oauth.revocation.recorded). */
export const revocationRecorded = (r: Revocation): RevocationRecorded => ({
  kind: r.kind, key: r.key, issued_before: epochSeconds(r.issuedBefore), issued_before_ms: r.issuedBefore.getTime(), expires_at: Math.ceil(r.expiresAt.getTime() / 1000),
});

/**
 * Stores a revocation, applies it to this instance's own RevocationSet at once, then broadcasts
 * it to every instance of validation-service and token-service (no queue group). The store comes
 * first: an instance that starts later loads it from there.
 */
export function revocationRecorder(store: Pick<TokenStore, 'recordRevocation'>, nc: NatsConnection, log: Logger, now: () => Date, local?: RevocationSet): RecordRevocation {
  return async (revocation) => {
    await store.recordRevocation(revocation, now());
    local?.record(toRevocationRecord(revocation));
    try {
      nc.publish(Subjects.revocationRecorded, JSON.stringify(revocationRecorded(revocation)));
    } catch (error) {
      // Stored already: validation-service instances pick it up when they next load.
      log.error({ err: error, kind: revocation.kind }, 'could not broadcast a revocation');
    }
  };
}

const changed = checker(ReferenceDataChangedSchema);

/** Calls `reload` whenever the admin CLI (or another instance) announces new signing keys. */
export function onSigningKeysChanged(nc: NatsConnection, reload: () => void): Subscription {
  return nc.subscribe(Subjects.referenceDataChanged, {
    callback: (_error, msg) => {
      if (changed.parse(parseJson(msg.data))?.kind === 'keys') reload();
    },
  });
}
