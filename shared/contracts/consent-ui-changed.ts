// oauth.consent_ui.changed — one consent-ui instance ended a session or changed a consent; the
// others drop what they had read of it. `key` is the stored record's _id (a session id's SHA-256,
// or `<sub> <client_id>`), never a session id itself.
import { Type, type Static } from '@sinclair/typebox';

export const ConsentUiChangedSchema = Type.Object({
  kind: Type.Union([Type.Literal('session'), Type.Literal('consent')]),
  key: Type.String({ minLength: 1, maxLength: 512 }),
}, { additionalProperties: false });
export type ConsentUiChanged = Static<typeof ConsentUiChangedSchema>;
