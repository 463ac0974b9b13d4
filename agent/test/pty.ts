/**
 * Test helpers for real serial tests: the pseudo-terminal pair lives in scripts/lib (shared with the e2e tests and the
 * benchmark).
 */
export { startPtyPair, type PtyPair } from '@tillbridge/scripts/lib/pty';

/** Polls until `check` returns a value other than undefined/false, or fails after timeoutMs. */
export async function waitFor<T>(what: string, check: () => T | undefined | false, timeoutMs = 3000): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const v = check();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}
