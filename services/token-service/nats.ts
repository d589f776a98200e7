// NATS side of token-service: the consent revocation endpoint, and the revocation broadcast to
// validation-service and token-service instances.
import type { Service } from '@nats-io/services';
import type { NatsConnection } from '@nats-io/nats-core';
import type { Logger } from '#shared/logger.ts';
import { addEndpoint } from '#shared/nats/add-endpoint.ts';
import { Subjects } from '#shared/nats/subjects.ts';
import { checker } from '#shared/contracts/checker.ts';
import { ConsentRevokeRequestSchema, type ConsentRevokeReply } from '#shared/contracts/consent-revoke.ts';
import type { RevocationRecorded } from '#shared/contracts/revocation-recorded.ts';
import { revokeConsent, type Deps as RevokeConsentDeps } from './revoke-consent.ts';

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

/** Broadcasts a recorded revocation to every instance (no queue group: each hears each one). */
export const publishRevocation = (nc: NatsConnection) => (recorded: RevocationRecorded): void => {
  nc.publish(Subjects.revocationRecorded, JSON.stringify(recorded));
};
