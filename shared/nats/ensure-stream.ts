// A JetStream stream a service needs, brought in line at start: created when missing, updated when
// one of the settings that matter differs (JetStream changes retention, windows and the replicas of
// a clustered stream in place). Idempotent, so every instance runs it; two creating it at once is fine.
import type { JetStreamManager, StreamConfig } from '@nats-io/jetstream';

/** The settings compared with the stream's and set on it when they differ. */
export type StreamSettings = Partial<Pick<StreamConfig, 'max_age' | 'duplicate_window' | 'num_replicas' | 'max_bytes'>>;

/** `name` with `settings`; created from `creation` (subjects, storage…) plus `settings` when missing. */
export async function ensureStream(
  jsm: JetStreamManager, name: string, settings: StreamSettings, creation: Omit<Partial<StreamConfig>, 'name'>,
): Promise<void> {
  try {
    const info = await jsm.streams.info(name);
    const differs = (Object.keys(settings) as (keyof StreamSettings)[]).some((key) => info.config[key] !== settings[key]);
    if (differs) await jsm.streams.update(name, { ...info.config, ...settings });
  } catch (error) {
    if (!/stream not found/i.test((error as Error).message)) throw error;
    try {
      await jsm.streams.add({ ...creation, ...settings, name });
    } catch (addError) {
      // Another instance created it between our look-up and our add.
      if (!/already in use/i.test((addError as Error).message)) throw addError;
    }
  }
}
