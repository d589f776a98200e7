// Keeps a holder of signing keys current: subscribed to the `keys` announcement (a rotation by the
// admin CLI or another instance's first key) before the first load, so nothing announced in
// between is missed, then loaded once, and reloaded on every announcement and on a timer, the
// safety net for announcements missed while NATS was away. No transport here: `onKeysChanged`
// and `every` are handed in.
import type { Logger } from '#shared/logger.ts';
import { coalesced } from '#shared/coalesced.ts';

export type KeepKeysCurrentDeps = {
  /** Calls `onChange` on every `keys` announcement; returns the unsubscribe. */
  onKeysChanged(onChange: () => void): () => void;
  /** Runs `task` every `intervalMs`; returns the cancel. */
  every(intervalMs: number, task: () => void): () => void;
  /** Loads the keys; rejects when the load fails. */
  reload(): Promise<void>;
  log: Pick<Logger, 'warn'>;
  intervalMs: number;
};

/** Subscribes, loads once (a failure of this first load is thrown), then keeps reloading until `stop`. */
export async function keepKeysCurrent(deps: KeepKeysCurrentDeps): Promise<{ stop(): void }> {
  const reloadSoon = coalesced(() => deps.reload());
  const reloadQuietly = () => {
    reloadSoon().catch((error: unknown) => deps.log.warn({ err: error }, 'signing key reload failed; keeping the keys held'));
  };
  const unsubscribe = deps.onKeysChanged(reloadQuietly);
  try {
    await deps.reload();
  } catch (error) {
    unsubscribe();
    throw error;
  }
  const cancel = deps.every(deps.intervalMs, reloadQuietly);
  return {
    stop: () => {
      cancel();
      unsubscribe();
    },
  };
}

/** `every` on the process's timers (unref'd: a reload timer alone keeps no process alive). */
export function every(intervalMs: number, task: () => void): () => void {
  const timer = setInterval(task, intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
