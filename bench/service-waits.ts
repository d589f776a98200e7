// What a scenario's requests waited for inside the services, read from their /metrics before and
// after it: each grouped unique insert (shared/unique-inserts.ts: one insert command in flight at a
// time per collection and service, so the share of the scenario one was in flight says how close
// that writer is to its limit, and the documents per command how much grouping it does), and
// JetStream's acknowledgement of the audit events a request waits for before it answers.
import { samplesOf, type MetricsTexts } from './metrics-text.ts';

/** A grouped unique insert's writer during a scenario. */
export type GroupCommitUse = { service: string; collection: string; writes: number; busy: number; documentsPerWrite: number; msPerWrite: number };
/** JetStream's acknowledgements of one service's audit events during a scenario. */
export type AuditAckWait = { service: string; acks: number; meanMs: number };
export type ServiceWaits = { groupCommits: GroupCommitUse[]; auditAcks: AuditAckWait[] };

const byCollection = (text: string | undefined, name: string): Map<string, number> =>
  new Map(samplesOf(text ?? '', name).map((s) => [s.labels.collection ?? '', s.value]));

const unlabelled = (text: string | undefined, name: string): number =>
  samplesOf(text ?? '', name).reduce((sum, s) => sum + s.value, 0);

/** The waits of a scenario that lasted `seconds`, from the services' metrics before and after it. */
export function serviceWaits(before: MetricsTexts, after: MetricsTexts, seconds: number): ServiceWaits {
  const groupCommits: GroupCommitUse[] = [];
  const auditAcks: AuditAckWait[] = [];
  for (const [service, text] of after) {
    const earlier = before.get(service);
    const metric = (name: string) => ({ now: byCollection(text, name), then: byCollection(earlier, name) });
    const counts = metric('group_commit_write_seconds_count');
    const sums = metric('group_commit_write_seconds_sum');
    const documents = metric('group_commit_documents_total');
    for (const [collection, count] of counts.now) {
      const writes = count - (counts.then.get(collection) ?? 0);
      if (writes <= 0) continue;
      const busySeconds = (sums.now.get(collection) ?? 0) - (sums.then.get(collection) ?? 0);
      const written = (documents.now.get(collection) ?? 0) - (documents.then.get(collection) ?? 0);
      groupCommits.push({
        service, collection, writes,
        busy: round(busySeconds / seconds), documentsPerWrite: round(written / writes), msPerWrite: round((busySeconds * 1000) / writes),
      });
    }
    const acks = unlabelled(text, 'audit_publish_ack_seconds_count') - unlabelled(earlier, 'audit_publish_ack_seconds_count');
    if (acks > 0) {
      const ackSeconds = unlabelled(text, 'audit_publish_ack_seconds_sum') - unlabelled(earlier, 'audit_publish_ack_seconds_sum');
      auditAcks.push({ service, acks, meanMs: round((ackSeconds * 1000) / acks) });
    }
  }
  return { groupCommits, auditAcks };
}

const round = (value: number): number => Math.round(value * 100) / 100;
