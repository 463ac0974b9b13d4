import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { ROOT } from './paths.js';

/**
 * The shared fixtures written by others (POS vendors' POSLog files): `../shared/fixtures` beside
 * the repository, as the project is checked out; TILLBRIDGE_SHARED_FIXTURES overrides it, and
 * /work/shared/fixtures (where machines of this kind keep it) is the fallback for a clone made
 * elsewhere. Tests read the files there, unchanged, and fail when they cannot find them.
 */
export function sharedFixtures(...sub: string[]): string {
  const candidates = [process.env.TILLBRIDGE_SHARED_FIXTURES, join(ROOT, '..', 'shared', 'fixtures'), '/work/shared/fixtures'].filter((c): c is string => Boolean(c));
  const found = candidates.find((c) => existsSync(join(c, ...sub)));
  return resolve(found ?? candidates[0]!, ...sub);
}
