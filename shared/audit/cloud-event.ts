// Audit events as CloudEvents 1.0 JSON. `data` is an allow-list of identifiers and scopes: it has
// no field that could hold a token, code, secret or password.
import { createHash, randomUUID } from 'node:crypto';
import type { TokenGrantType } from '#shared/reference-data/clients.ts';

export const AuditEventTypes = [
  'oauth.authorization.requested', 'oauth.authorization.approved', 'oauth.authorization.denied',
  'oauth.code.issued', 'oauth.code.replayed',
  'oauth.token.issued', 'oauth.token.refreshed', 'oauth.token.revoked', 'oauth.refresh_token.reused', 'oauth.refresh_token.spend_unconfirmed',
  'oauth.refresh_token.grace_used',
  'oauth.login.succeeded', 'oauth.login.failed', 'oauth.login.locked', 'oauth.logout',
  'oauth.consent.granted', 'oauth.consent.revoked',
  'oauth.client.created', 'oauth.client.updated', 'oauth.client.deleted', 'oauth.client.secret_rotated',
  'oauth.user.created', 'oauth.user.deleted',
  'oauth.client.disabled', 'oauth.client.enabled', 'oauth.user.disabled', 'oauth.user.enabled', 'oauth.grant.revoked',
  'oauth.scope.created', 'oauth.scope.deleted', 'oauth.resource.created', 'oauth.resource.deleted',
  'oauth.key.created', 'oauth.key.rotated',
  'oauth.resource_server.created', 'oauth.resource_server.deleted', 'oauth.authorization.pushed',
] as const;
export type AuditEventType = (typeof AuditEventTypes)[number];

export type AuditData = {
  client_id?: string;
  sub?: string;
  username?: string;
  scope?: string;
  grant_id?: string;
  jti?: string;
  token_type?: 'access_token' | 'refresh_token';
  /** Said where the grant is not the usual one (client_credentials on oauth.token.issued). */
  grant_type?: TokenGrantType;
  reason?: string;
  kid?: string;
  count?: number;
  ip?: string;
  /** RFC 8707: the resource servers an access token is for (its `aud`). */
  resource?: string[];
};

export type CloudEvent = {
  specversion: '1.0';
  id: string;
  source: string;
  type: AuditEventType;
  time: string;
  subject: string;
  datacontenttype: 'application/json';
  data: AuditData;
};

/**
 * An event that may be sent again (a decision retried after its first process died): `key` names
 * what it announces (a grant, a decided request), `at` when that happened. Its copies are one
 * event, with one id and time, so JetStream's duplicate window and auditors (CloudEvents: source
 * and id identify an event) keep one of them.
 */
export type Once = { key: string; at: Date };

export function cloudEvent(type: AuditEventType, source: string, subject: string, data: AuditData, once?: Once): CloudEvent {
  const id = once === undefined ? randomUUID() : eventIdFor(type, once.key);
  const time = (once?.at ?? new Date()).toISOString();
  return { specversion: '1.0', id, source, type, time, subject, datacontenttype: 'application/json', data };
}

/** A UUID (version 8: custom) derived from the type and key, the same in every process. */
function eventIdFor(type: AuditEventType, key: string): string {
  const bytes = createHash('sha256').update(`${type}\n${key}`).digest().subarray(0, 16);
  bytes[6] = (bytes[6]! & 0x0f) | 0x80;
  bytes[8] = (bytes[8]! & 0x3f) | 0x80;
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** `oauth.audit.<type without the "oauth." prefix>`, as the contract names it. */
export const auditSubject = (type: AuditEventType): string => `oauth.audit.${type.slice('oauth.'.length)}`;
