// The DPoP replay store: one-time use of a proof across every instance of every service that
// checks proofs (RFC 9449 §11.1). A JetStream stream with a duplicate window does it in one round
// trip: each accepted proof is published once with Nats-Msg-Id = hash(jkt, jti); JetStream keeps
// the ids it saw within the window, cluster-wide, and its PubAck says `duplicate` for a repeat.
// Chosen over a KV bucket with create(): the same single publish, but no look-up of deleted keys,
// fewer NATS rights (no $KV or direct-get subjects), and the window is the stream's own setting.
// File storage: the ids within the window are rebuilt from the stored messages after a NATS
// restart, so a proof used just before one cannot be replayed just after it.
import { DiscardPolicy, RetentionPolicy, StorageType, jetstream, jetstreamManager } from '@nats-io/jetstream';
import { nanos, type NatsConnection } from '@nats-io/nats-core';
import { DPOP_PROOF_STREAM, Subjects } from '#shared/nats/subjects.ts';
import { unavailable } from '#shared/oauth-error.ts';
import { ensureStream } from '#shared/nats/ensure-stream.ts';
import { PROOF_REPLAY_WINDOW_SECONDS } from './verify-dpop-proof.ts';

/** A bound on what an attacker sending valid proofs at full speed makes the server keep (messages are empty). */
const MAX_STREAM_BYTES = 256 * 1024 * 1024;
/** A replay check is on the request path: unanswered this long, the request fails (503) rather than waits. */
const PUBLISH_TIMEOUT_MS = 2000;

/** DPOP_PROOF_STREAM_REPLICAS, or the audit stream's replicas when it is not set (config.ts). */
export type ReplayStreamSettings = { DPOP_PROOF_STREAM_REPLICAS?: number | undefined; AUDIT_STREAM_REPLICAS: number };

/**
 * Creates OAUTH_DPOP_PROOFS if missing, or brings its window and replicas in line. Idempotent, so
 * every instance of token-service and validation-service runs it at start. No `$JS.API.INFO` check
 * (checkAPI: false): validation-service's NATS user has rights on this stream only.
 */
export async function ensureProofReplayStream(nc: NatsConnection, settings: ReplayStreamSettings): Promise<void> {
  const replicas = settings.DPOP_PROOF_STREAM_REPLICAS ?? settings.AUDIT_STREAM_REPLICAS;
  const jsm = await jetstreamManager(nc, { checkAPI: false });
  const window = nanos(PROOF_REPLAY_WINDOW_SECONDS * 1000);
  // max_age = duplicate_window: the stored ids live exactly as long as JetStream must remember them.
  const wanted = { max_age: window, duplicate_window: window, num_replicas: replicas, max_bytes: MAX_STREAM_BYTES };
  await ensureStream(jsm, DPOP_PROOF_STREAM, wanted, {
    subjects: [Subjects.dpopProofUsed], storage: StorageType.File, retention: RetentionPolicy.Limits, discard: DiscardPolicy.Old,
  });
}

/**
 * verifyDpopProof's `firstUse`: true when JetStream had not seen this proof id within the window.
 * A store that does not answer (timeout, no stream, NATS away) is temporarily_unavailable, for the
 * token endpoint (503) and oauth.token.validate alike: the proof can be neither accepted nor refused.
 */
export function proofFirstUse(nc: NatsConnection): (proofId: string) => Promise<boolean> {
  const js = jetstream(nc);
  const empty = new Uint8Array(0);
  return async (proofId) => {
    try {
      const ack = await js.publish(Subjects.dpopProofUsed, empty, { msgID: proofId, timeout: PUBLISH_TIMEOUT_MS, expect: { streamName: DPOP_PROOF_STREAM } });
      return !ack.duplicate;
    } catch (error) {
      throw unavailable(`DPoP replay store unavailable: ${(error as Error).message}`);
    }
  };
}
