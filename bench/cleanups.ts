import { rmSync } from 'node:fs';

/** What a benchmark started and must stop: run in reverse order. */
export type Cleanups = (() => Promise<unknown>)[];

/**
 * Runs `body` with a list it pushes a cleanup onto for everything it starts (hub, agent,
 * pseudo-terminal, register). However the run ends — a failed step, Ctrl-C, SIGTERM — every
 * cleanup runs, last first, and `dir` is removed: no stray process or temp directory is left.
 */
export async function withCleanups<T>(dir: string, body: (cleanups: Cleanups) => Promise<T>): Promise<T> {
  const cleanups: Cleanups = [];
  const cleanUp = async (): Promise<void> => {
    for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
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
