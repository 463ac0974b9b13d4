import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import Database from 'better-sqlite3';
import { expect } from 'vitest';
import { HUB_MIGRATIONS } from '../../central/src/storage/schema.js';

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

/**
 * A SQLite database's schema as SQLite keeps it: every table's and index's name and the exact
 * text of its statement (an upgraded database and a new one must agree to the byte).
 */
export function sqliteSchema(db: { prepare(sql: string): { all(): unknown[] } }): string[] {
  return (
    db
      .prepare(`SELECT type, name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name`)
      .all() as { type: string; name: string; sql: string }[]
  ).map((r) => `${r.type} ${r.name}: ${r.sql}`);
}

/**
 * A PostgreSQL database's schema as its catalog describes it (PostgreSQL keeps no statement text):
 * each column with its type, nullability, default and identity, each index's definition, and each
 * constraint with its name and definition.
 */
export function postgresSchema(query: (text: string) => Record<string, unknown>[]): string[] {
  const lines = (text: string): string[] => query(text).map((r) => Object.values(r).map(String).join(' '));
  return [
    ...lines(
      `SELECT table_name, column_name, data_type, is_nullable, column_default, is_identity, identity_generation
         FROM information_schema.columns WHERE table_schema = current_schema()
        ORDER BY table_name, ordinal_position`,
    ),
    ...lines(`SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema() ORDER BY indexname`),
    ...lines(
      `SELECT c.conrelid::regclass::text AS tbl, c.conname, pg_get_constraintdef(c.oid) AS def
         FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace
        WHERE n.nspname = current_schema() ORDER BY 1, 2`,
    ),
  ];
}

/**
 * A hub SQLite database at `file` (':memory:': in memory) as a hub of schema `version` left it:
 * the first `version` migrations run (all by default), `user_version` set after each, WAL and
 * foreign keys on as the hub has them. Open: the caller closes it.
 */
export function sqliteHubAt(file: string, version = HUB_MIGRATIONS.length): Database.Database {
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  db.pragma('foreign_keys = ON');
  for (const [v, migration] of HUB_MIGRATIONS.slice(0, version).entries()) {
    db.exec(migration);
    db.pragma(`user_version = ${v + 1}`);
  }
  return db;
}

/** Sets the `user_version` of the SQLite database at `file` (as a binary of that schema version leaves it). */
export function setUserVersion(file: string, version: number): void {
  const db = new Database(file);
  try {
    db.pragma(`user_version = ${version}`);
  } finally {
    db.close();
  }
}

/** The `user_version` of the SQLite database at `file`. */
export function userVersion(file: string): unknown {
  const db = new Database(file);
  try {
    return db.pragma('user_version', { simple: true });
  } finally {
    db.close();
  }
}

/**
 * Sets the SQLite database at `file` one schema version past `known` (as a newer binary leaves it) and
 * expects `open` to refuse it with a TB_CONFIG error whose message contains `message` (a string) or
 * matches it (a RegExp), and to leave it at that version.
 */
export function expectNewerRefused(file: string, known: number, open: () => unknown, message: string | RegExp): void {
  setUserVersion(file, known + 1);
  expect(open).toThrow(
    expect.objectContaining({
      code: 'TB_CONFIG',
      message: typeof message === 'string' ? expect.stringContaining(message) : expect.stringMatching(message),
    }),
  );
  expect(userVersion(file)).toBe(known + 1);
}
