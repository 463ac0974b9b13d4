import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach } from 'vitest';

/** Each file in `dir` with its permission bits in octal, e.g. `{ 'hub.sqlite': '600' }`. */
export const fileModes = (dir: string): Record<string, string> =>
  Object.fromEntries(readdirSync(dir).map((f) => [f, (statSync(join(dir, f)).mode & 0o777).toString(8)]));

/**
 * A usual umask, 0022, for each test of the file or describe block it is called in (without care, SQLite makes
 * its files 0644 under it); the runner's own umask is restored after each test.
 */
export function usualUmaskForEachTest(): void {
  let umask: number | undefined;
  beforeEach(() => {
    umask = process.umask(0o022);
  });
  afterEach(() => {
    if (umask !== undefined) process.umask(umask);
  });
}
