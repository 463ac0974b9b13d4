import { join } from 'node:path';
import { ROOT } from './paths.js';

/**
 * Documents written by others (POS vendors' POSLog files), kept in the repository under
 * `test/fixtures/vendor/` byte for byte, with their licences and sources (`SOURCES.md`), so a
 * clone alone passes its tests. Nothing here reads outside the clone.
 */
export function vendorFixtures(...sub: string[]): string {
  return join(ROOT, 'test', 'fixtures', 'vendor', ...sub);
}
