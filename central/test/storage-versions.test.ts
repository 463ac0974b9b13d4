import { afterEach, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '@tillbridge/scripts/lib/pg-test-db';
import { describePg } from '../../test/support/pg.js';
import { HUB_MIGRATIONS } from '../src/storage/schema.js';
import { PG_MIGRATIONS } from '../src/storage/postgres-schema.js';
import { hubDbPath, openSqliteStorage } from '../src/storage/index.js';
import { openPostgresStorage } from '../src/storage/postgres.js';
import { describePostgres, describeSqlite, type SchemaShape } from '../src/storage/copy.js';
import {
  insertPostgres,
  insertSqlite,
  introspectPostgres,
  introspectSqlite,
  pgConnect,
  representativeRows,
  selectPostgres,
  selectSqlite,
  snapshot,
} from './schema-rows.js';
import { tempDirForEachTest } from '../../test/support/temp-dir.js';
import { expectNewerRefused, sqliteHubAt } from '../../test/support/schema-fixtures.js';

/**
 * Every schema version that has shipped, on both engines, opened by the running code: it reaches
 * the current version with the rows it held intact. The lists are read at run time, so a migration
 * added tomorrow is tested from every version before it without touching this file.
 *
 * "Intact": every table the old version had still holds, on the columns it had, exactly the rows
 * it held (a migration that rebuilds a table keeps every row). A migration that is MEANT to rewrite
 * old values would list its table here, with why.
 */
const REWRITTEN: Record<string, string> = {};

/** Compares the rows held at version v with those after migrating (the old tables, on the old columns). */
function expectIntact(
  before: Map<string, string[]>,
  beforeShape: SchemaShape,
  afterShape: SchemaShape,
  after: (cols: Map<string, string[]>) => Map<string, string[]>,
  v: number,
): void {
  const cols = new Map<string, string[]>();
  for (const [t, s] of beforeShape) {
    if (REWRITTEN[t] || !afterShape.has(t)) continue;
    const have = new Set(afterShape.get(t)!.columns.map((c) => c.name));
    const kept = s.columns.map((c) => c.name).filter((c) => have.has(c));
    expect(kept, `table ${t} lost columns migrating from version ${v}`).toEqual(s.columns.map((c) => c.name));
    cols.set(t, kept);
  }
  const now = after(cols);
  for (const [t, rows] of now) {
    if (!cols.has(t)) continue;
    expect(rows, `the rows of ${t} after migrating from version ${v}`).toEqual(before.get(t));
  }
}

let dir: string;
tempDirForEachTest('tb-versions-', (made) => (dir = made));

describe('SQLite: a hub database from every shipped schema version is brought to the current one', () => {
  it.each(Array.from({ length: HUB_MIGRATIONS.length }, (_, v) => v))('from version %i, with its rows intact', (v) => {
    const db = sqliteHubAt(hubDbPath(dir), v);
    const intro = introspectSqlite(db);
    const rows = representativeRows(intro);
    insertSqlite(db, rows);
    expect(db.pragma('foreign_key_check')).toEqual([]);
    const before = snapshot(selectSqlite(db), intro.shape);
    if (v > 0)
      expect(
        [...before.values()].every((r) => r.length === 3),
        `rows inserted at version ${v}`,
      ).toBe(true);
    db.close();

    const s = openSqliteStorage(dir);
    try {
      expect(s.schemaVersion()).toBe(HUB_MIGRATIONS.length);
      expect(s.raw.pragma('foreign_key_check')).toEqual([]);
      expect(s.raw.pragma('integrity_check', { simple: true })).toBe('ok');
      const afterShape = describeSqlite(s.raw);
      expectIntact(
        before,
        intro.shape,
        afterShape,
        (cols) => snapshot(selectSqlite(s.raw), new Map([...afterShape].filter(([t]) => cols.has(t))), cols),
        v,
      );
    } finally {
      s.close();
    }
  });

  it('refuses a database newer than the code, naming both versions, and leaves it as it was', () => {
    sqliteHubAt(hubDbPath(dir)).close();
    expectNewerRefused(
      hubDbPath(dir),
      HUB_MIGRATIONS.length,
      () => openSqliteStorage(dir),
      `is at schema version ${HUB_MIGRATIONS.length + 1}, newer than this hub (${HUB_MIGRATIONS.length})`,
    );
  });
});

await describePg('PostgreSQL: a hub database from every shipped schema version is brought to the current one', () => {
  let tdb: TestDatabase | undefined;
  afterEach(() => {
    tdb?.drop();
    tdb = undefined;
  });

  it.each(Array.from({ length: PG_MIGRATIONS.length }, (_, v) => v))('from version %i, with its rows intact', (v) => {
    const t = (tdb = createTestDatabase('tb_versions'));
    const pg = pgConnect(t.url);
    let before: Map<string, string[]>;
    let beforeShape: SchemaShape;
    try {
      if (v > 0) {
        // as the code at version v left it (postgres.ts migrate())
        pg.query('BEGIN');
        pg.query('CREATE TABLE tillbridge_schema (version BIGINT NOT NULL)');
        for (let i = 0; i < v; i++) pg.query(PG_MIGRATIONS[i]!);
        pg.query(`INSERT INTO tillbridge_schema (version) VALUES (${v})`);
        pg.query('COMMIT');
      }
      const intro = introspectPostgres(pg.query.bind(pg));
      beforeShape = intro.shape;
      pg.query('BEGIN');
      insertPostgres(pg.query.bind(pg), representativeRows(intro));
      pg.query('COMMIT');
      before = snapshot(selectPostgres(pg.query.bind(pg)), intro.shape);
      if (v > 0)
        expect(
          [...before.values()].every((r) => r.length === 3),
          `rows inserted at version ${v}`,
        ).toBe(true);
    } finally {
      pg.close();
    }
    if (v === 0) expect(() => openPostgresStorage(t.url)).toThrow(/no hub in the database/);
    const s = openPostgresStorage(t.url, { create: v === 0 });
    try {
      expect(s.schemaVersion()).toBe(PG_MIGRATIONS.length);
    } finally {
      s.close();
    }
    const after = pgConnect(t.url);
    try {
      const afterShape = describePostgres(after.query.bind(after));
      expectIntact(
        before,
        beforeShape,
        afterShape,
        (cols) =>
          snapshot(
            selectPostgres(after.query.bind(after)),
            new Map([...afterShape].filter(([t]) => cols.has(t))),
            cols,
          ),
        v,
      );
    } finally {
      after.close();
    }
  });

  it('refuses a database newer than the code, naming both versions, and leaves it as it was', () => {
    tdb = createTestDatabase('tb_versions');
    openPostgresStorage(tdb.url, { create: true }).close();
    const pg = pgConnect(tdb.url);
    try {
      pg.query(`UPDATE tillbridge_schema SET version = ${PG_MIGRATIONS.length + 1}`);
      expect(() => openPostgresStorage(tdb!.url)).toThrow(
        expect.objectContaining({
          code: 'TB_CONFIG',
          message: expect.stringContaining(
            `is at schema version ${PG_MIGRATIONS.length + 1}, newer than this hub (${PG_MIGRATIONS.length})`,
          ),
        }),
      );
      expect(pg.query('SELECT version FROM tillbridge_schema')).toEqual([
        { version: String(PG_MIGRATIONS.length + 1) },
      ]);
      // and the refused storage left no connection open (a hub polling a newer database would exhaust the server)
      for (let i = 0; i < 3; i++) expect(() => openPostgresStorage(tdb!.url)).toThrow(/newer than this hub/);
      const hubConnections = (): string =>
        (
          pg.query(
            `SELECT COUNT(*) AS n FROM pg_stat_activity
                WHERE datname = current_database() AND application_name = 'tillbridge-hub'`,
          ) as { n: string }[]
        )[0]!.n;
      // a closed connection's server process goes away a moment later: wait for it (at most ~10 s)
      for (let i = 0; i < 200 && hubConnections() !== '0'; i++) pg.query('SELECT pg_sleep(0.05)');
      expect(hubConnections()).toBe('0');
    } finally {
      pg.close();
    }
  });
});
