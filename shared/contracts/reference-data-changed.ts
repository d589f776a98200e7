// oauth.reference_data.changed — the admin CLI changed clients, users, scopes, resources, keys or resource servers.
import { Type, type Static } from '@sinclair/typebox';

export const ReferenceDataKinds = ['clients', 'users', 'scopes', 'resources', 'keys', 'resource_servers'] as const;
export const ReferenceDataChangedSchema = Type.Object({ kind: Type.Union(ReferenceDataKinds.map((k) => Type.Literal(k))) });
export type ReferenceDataChanged = Static<typeof ReferenceDataChangedSchema>;
export type ReferenceDataKind = (typeof ReferenceDataKinds)[number];
