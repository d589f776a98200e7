// oauth.consent_ui.changed: a consent-ui instance ended a session or changed a consent, and every
// instance that keeps recent reads of them (consent-ui's, authorize-service's) drops that one. Sent
// to all (no queue group); malformed ones are ignored.
import type { NatsConnection } from '@nats-io/nats-core';
import { parseJson } from '#shared/nats/add-endpoint.ts';
import { Subjects } from '#shared/nats/subjects.ts';
import type { Logger } from '#shared/logger.ts';
import { checker } from '#shared/contracts/checker.ts';
import { ConsentUiChangedSchema, type ConsentUiChanged } from '#shared/contracts/consent-ui-changed.ts';

const changed = checker(ConsentUiChangedSchema);

/** Tells the other instances what changed, and hears what they changed. */
export type ChangeBroadcast = {
  publish(event: ConsentUiChanged): void;
  subscribe(onChange: (event: ConsentUiChanged) => void): { unsubscribe(): void };
};

export function consentUiChanges(nc: NatsConnection, log: Logger): ChangeBroadcast {
  return {
    publish: (event: ConsentUiChanged) => nc.publish(Subjects.consentUiChanged, JSON.stringify(event)),
    subscribe: (onChange) => nc.subscribe(Subjects.consentUiChanged, {
      callback: (error, msg) => {
        if (error) {
          log.warn({ err: error }, 'consent-ui change broadcasts stopped; recent reads of sessions and consents now last their full age');
          return;
        }
        const event = changed.parse(parseJson(msg.data));
        if (event) onChange(event);
        else log.warn('ignored a malformed consent-ui change broadcast');
      },
    }),
  };
}
