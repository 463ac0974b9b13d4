import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '@tillbridge/scripts/lib/pg-test-db';
import { describePg } from '../../test/support/pg.js';
import { openPostgresStorage } from '../src/storage/postgres.js';
import {
  describePostgres,
  describeSqlite,
  pgTypeFor,
  schemaDifferences,
  type SchemaShape,
} from '../src/storage/copy.js';
import { pgConnect } from './schema-rows.js';
import { sqliteHubAt } from '../../test/support/schema-fixtures.js';

/**
 * After all their migrations, SQLite and PostgreSQL hold the same tables with the same columns
 * (types mapped: INTEGER ↔ bigint, TEXT ↔ text), so `storage migrate` copies like to like. A
 * table or column on one engine only (schema.ts, postgres-schema.ts) fails here, naming what differs.
 * Indexes are compared by name too: a hub on either engine finds the same ones.
 */

describe('schemaDifferences', () => {
  /** The table meta (key, value) as an engine names the type of its text columns. */
  const meta = (text: string): SchemaShape =>
    new Map([['meta', { columns: ['key', 'value'].map((name) => ({ name, type: text })) }]]);
  const base = (): SchemaShape => meta('TEXT');
  const pg = (): SchemaShape => meta('text');
  it('is empty for matching shapes, and names a table, a column or a type on one side only', () => {
    expect(schemaDifferences(base(), pg())).toEqual([]);
    const s = base();
    s.set('extra', { columns: [{ name: 'x', type: 'TEXT' }] });
    s.get('meta')!.columns.push({ name: 'n', type: 'INTEGER' });
    const p = pg();
    p.get('meta')!.columns[1]!.type = 'bigint';
    p.set('other', { columns: [] });
    expect(schemaDifferences(s, p)).toEqual([
      'table extra only in SQLite',
      'column meta.value is TEXT in SQLite but bigint in PostgreSQL (expected text)',
      'column meta.n only in SQLite',
      'table other only in PostgreSQL',
    ]);
  });

  it('catches a migration applied to SQLite only', () => {
    const db = sqliteHubAt(':memory:');
    // what PostgreSQL would hold with the same migrations: the same shape, types mapped
    const asPg: SchemaShape = new Map(
      [...describeSqlite(db)].map(([t, s]) => [
        t,
        { columns: s.columns.map((c) => ({ name: c.name, type: pgTypeFor(c.type)! })) },
      ]),
    );
    expect(schemaDifferences(describeSqlite(db), asPg)).toEqual([]);
    db.exec('ALTER TABLE meta ADD COLUMN note TEXT; CREATE TABLE newer (id INTEGER PRIMARY KEY)');
    expect(schemaDifferences(describeSqlite(db), asPg)).toEqual([
      'column meta.note only in SQLite',
      'table newer only in SQLite',
    ]);
    db.close();
  });
});

await describePg('the SQLite and PostgreSQL schemas, after every migration', () => {
  let tdb: TestDatabase;
  let sqlite: Database.Database;
  let pg: ReturnType<typeof pgConnect>;
  beforeAll(() => {
    tdb = createTestDatabase('tb_parity');
    openPostgresStorage(tdb.url, { create: true }).close();
    pg = pgConnect(tdb.url);
    sqlite = sqliteHubAt(':memory:');
  });
  afterAll(() => {
    /* eslint-disable @typescript-eslint/no-unnecessary-condition -- unset if beforeAll failed first */
    pg?.close();
    sqlite?.close();
    tdb?.drop();
    /* eslint-enable @typescript-eslint/no-unnecessary-condition */
  });

  it('have the same tables and the same columns, types mapped', () => {
    const s = describeSqlite(sqlite);
    const p = describePostgres(pg.query.bind(pg));
    expect(s.size).toBeGreaterThan(10);
    expect(schemaDifferences(s, p)).toEqual([]);
  });

  it('have the same indexes (by name, beside those of primary keys and unique constraints)', () => {
    const s = sqlite
      .prepare(`SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL ORDER BY name`)
      .pluck()
      .all();
    const p = pg
      .query(
        `SELECT i.relname AS name
           FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_namespace n ON n.oid = i.relnamespace
          WHERE n.nspname = current_schema()
            AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid)
          ORDER BY i.relname`,
      )
      .map((r) => r.name);
    expect(p).toEqual(s);
  });
});
