// Every NATS subject the system uses, in one place.
export const Subjects = {
  /** Public: resource servers ask whether a token is valid and allowed (request/reply, queue group). */
  tokenValidate: 'oauth.token.validate',
  /** Internal: consent-ui asks authorize-service what a pending authorization request is. */
  authorizationDescribe: 'oauth.authorization.describe',
  /** Internal: consent-ui submits the resource owner's decision to authorize-service. */
  authorizationDecide: 'oauth.authorization.decide',
  /** Internal: token-service hands authorize-service a pushed authorization request (RFC 9126) from a client it authenticated. */
  authorizationPush: 'oauth.authorization.push',
  /** Internal: consent-ui asks token-service to end every grant of one client for one owner. */
  consentRevoke: 'oauth.consent.revoke',
  /** Internal broadcast (no queue group): a revocation every validation-service and token-service instance must learn. */
  revocationRecorded: 'oauth.revocation.recorded',
  /** Internal broadcast among consent-ui instances: a session ended or a consent changed; recent reads of it go. */
  consentUiChanged: 'oauth.consent_ui.changed',
  /** Internal broadcast: reference data (clients, users, scopes, resources, keys) changed; caches reload. */
  referenceDataChanged: 'oauth.reference_data.changed',
  /** Internal: a DPoP proof's id (hash of key and jti), published with it as Nats-Msg-Id into OAUTH_DPOP_PROOFS (one-time use). */
  dpopProofUsed: 'oauth.dpop_proof.used',
  /** Audit events: `oauth.audit.<type without the "oauth." prefix>`. */
  auditPrefix: 'oauth.audit.',
  auditAll: 'oauth.audit.>',
} as const;

export const AUDIT_STREAM = 'OAUTH_AUDIT';

/** The replay store of DPoP proofs (shared/dpop/proof-replay-stream.ts). */
export const DPOP_PROOF_STREAM = 'OAUTH_DPOP_PROOFS';

/** The queue group of every service endpoint, so instances share the load. */
export const QUEUE_GROUP = 'q';
