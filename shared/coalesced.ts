// Reloads asked for by broadcasts: anyone on NATS who may publish an announcement can send
// thousands, so a reload asked for while one runs is folded into one more run after it.

/**
 * `work`, never running twice at once. A call while it runs returns the running promise and asks
 * for one more run after it (what changed meanwhile is then loaded too): a flood of calls costs two
 * runs, not one each. The promise rejects only when the last run failed.
 */
export function coalesced(work: () => Promise<unknown>): () => Promise<void> {
  let running: Promise<void> | undefined;
  let again = false;
  const loop = async (): Promise<void> => {
    try {
      for (;;) {
        again = false;
        try {
          await work();
          if (!again) return;
        } catch (error) {
          if (!again) throw error;
        }
      }
    } finally {
      running = undefined;
    }
  };
  return () => {
    if (running) {
      again = true;
      return running;
    }
    running = loop();
    return running;
  };
}
