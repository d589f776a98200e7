import { Type } from '@sinclair/typebox';
import { MAX_SEALED_LENGTH } from '#shared/grants/sealed-state.ts';
import { MAX_RESOURCE_LENGTH, MAX_RESOURCES } from '#shared/reference-data/resource-servers.ts';

// Bounds shared by the wire schemas: every string has a ceiling, so no message can be unbounded.
export const ScopeToken = Type.String({ minLength: 1, maxLength: 128, pattern: '^[\\x21\\x23-\\x5B\\x5D-\\x7E]+$' });
export const ClientId = Type.String({ minLength: 1, maxLength: 128 });
/** A sealed authorization request (shared/grants/authorization-requests.ts). */
export const Handle = Type.String({ minLength: 32, maxLength: MAX_SEALED_LENGTH, pattern: '^[A-Za-z0-9_-]+$' });
export const Username = Type.String({ minLength: 1, maxLength: 128 });
export const Subject = Type.String({ minLength: 1, maxLength: 128 });
/** RFC 8707 resource indicators as a request names them: one per `resource` occurrence. */
export const ResourceIndicator = Type.String({ minLength: 1, maxLength: MAX_RESOURCE_LENGTH });
export const ResourceIndicators = Type.Array(ResourceIndicator, { minItems: 1, maxItems: MAX_RESOURCES });
/** A time as ms since the epoch, within what a Date holds (beyond it, `new Date(ms).toISOString()` throws). */
export const EpochMs = Type.Integer({ minimum: 0, maximum: 8_640_000_000_000_000 });
/** The same bound in seconds since the epoch. */
export const EpochSeconds = Type.Integer({ minimum: 0, maximum: 8_640_000_000_000 });
