import { rmSync } from 'node:fs';

/** What a benchmark started and must stop (each may return a promise): run in reverse order. */
export type Cleanups = (() => unknown)[];

/**
 * Runs `body` with a list it pushes a cleanup onto for everything it starts (hub, agent,
 * pseudo-terminal, register). However the run ends — a failed step, Ctrl-C, SIGTERM — every
 * cleanup runs, last first, and `dir` is removed: no stray process or temp directory is left.
 */
export async function withCleanups<T>(dir: string, body: (cleanups: Cleanups) => Promise<T>): Promise<T> {
  const cleanups: Cleanups = [];
  const cleanUp = async (): Promise<void> => {
    // a cleanup that throws, at once or later, does not stop the others
    for (const c of cleanups.splice(0).reverse()) await new Promise((resolve) => resolve(c())).catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  };
  const onSignal = (): void => void cleanUp().then(() => process.exit(130));
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    return await body(cleanups);
  } finally {
    await cleanUp();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
