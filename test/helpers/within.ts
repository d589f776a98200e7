// Polling for state that reaches each instance on its own (a broadcast, a cache reload): the
// contract's bound is 1 s, so a test waits for the condition, never longer than that.
import assert from 'node:assert/strict';

/** Polls `done` until it holds; fails when it still does not 1 s after `since`. */
export async function within1s(since: number, what: string, done: () => Promise<boolean>): Promise<void> {
  while (!(await done())) {
    assert.ok(Date.now() - since <= 1000, `${what} within 1 s`);
    await new Promise((r) => setTimeout(r, 20));
  }
  assert.ok(Date.now() - since <= 1000, `${what} within 1 s (took ${Date.now() - since} ms)`);
}
