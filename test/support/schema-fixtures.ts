import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';

/**
 * The schema fixtures under test/fixtures/schemas/ (written by scripts/schema-fixtures.ts,
 * docs/upgrade.md): where they are, which versions exist, and the hub's PostgreSQL dumps, stored
 * gzip-compressed (hub-postgres/vN.sql.gz) since they are data, not code.
 */
export const SCHEMA_FIXTURES = join(import.meta.dirname, '..', 'fixtures', 'schemas');

/** The versions N of `kind`/vN.`ext` on disk, in order. */
export function fixtureVersions(kind: string, ext: string): number[] {
  return readdirSync(join(SCHEMA_FIXTURES, kind))
    .map((name) => /^v(\d+)\.(.+)$/.exec(name))
    .filter((m): m is RegExpExecArray => m !== null && m[2] === ext)
    .map((m) => Number(m[1]))
    .sort((a, b) => a - b);
}

/** The SQL of the hub's PostgreSQL database at schema `version` (hub-postgres/vN.sql.gz, unpacked). */
export function hubPostgresDump(version: number): string {
  return gunzipSync(readFileSync(join(SCHEMA_FIXTURES, 'hub-postgres', `v${version}.sql.gz`))).toString('utf8');
}
