import type Database from 'better-sqlite3';
import { describePostgres, describeSqlite, type SchemaShape } from '../src/storage/copy.js';
import { openPgClient, type PgClient } from '../src/storage/postgres.js';

/**
 * Representative rows for whatever schema a database is at, made from the schema itself: a few
 * rows per table, every column filled (timestamps as ISO text, integers distinct, text distinct),
 * each foreign key pointing at a row of the table it names. So a test of "migrate from version v"
 * keeps working for the migrations added after it was written.
 */

export interface ForeignKey {
  from: string[];
  table: string;
  to: string[];
}

export interface Introspection {
  shape: SchemaShape;
  fks: Map<string, ForeignKey[]>;
}

export type Row = Record<string, string | number | null>;

/** A plain PostgreSQL connection (values as text), for building databases at old versions. */
export function pgConnect(url: string): PgClient {
  return openPgClient(url, { types: 'text' });
}

export function introspectSqlite(db: Database.Database): Introspection {
  const shape = describeSqlite(db);
  const fks = new Map<string, ForeignKey[]>();
  for (const t of shape.keys()) {
    const list = db
      .prepare(
        `SELECT id, seq, "table" AS ref, "from" AS col, "to" AS target
           FROM pragma_foreign_key_list(?) ORDER BY id, seq`,
      )
      .all(t) as { id: number; ref: string; col: string; target: string | null }[];
    const byId = new Map<number, ForeignKey>();
    for (const r of list) {
      let fk = byId.get(r.id);
      if (!fk) byId.set(r.id, (fk = { from: [], table: r.ref, to: [] }));
      fk.from.push(r.col);
      if (r.target) fk.to.push(r.target);
    }
    for (const fk of byId.values()) {
      // REFERENCES t without columns: t's primary key
      if (fk.to.length === 0)
        fk.to = db
          .prepare(`SELECT name FROM pragma_table_info(?) WHERE pk > 0 ORDER BY pk`)
          .pluck()
          .all(fk.table) as string[];
    }
    fks.set(t, [...byId.values()]);
  }
  return { shape, fks };
}

export function introspectPostgres(query: (text: string) => Record<string, unknown>[]): Introspection {
  const shape = describePostgres(query);
  const rows = query(`
    SELECT cl.relname AS tbl, ref.relname AS ref,
      array_to_json(ARRAY(SELECT a.attname FROM unnest(c.conkey) WITH ORDINALITY k(n, o)
        JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.n ORDER BY k.o)) AS from_cols,
      array_to_json(ARRAY(SELECT a.attname FROM unnest(c.confkey) WITH ORDINALITY k(n, o)
        JOIN pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = k.n ORDER BY k.o)) AS to_cols
    FROM pg_constraint c JOIN pg_class cl ON cl.oid = c.conrelid JOIN pg_class ref ON ref.oid = c.confrelid
      JOIN pg_namespace n ON n.oid = cl.relnamespace
    WHERE c.contype = 'f' AND n.nspname = current_schema()
    ORDER BY cl.relname, c.conname`) as { tbl: string; ref: string; from_cols: string; to_cols: string }[];
  const fks = new Map<string, ForeignKey[]>([...shape.keys()].map((t) => [t, []]));
  for (const r of rows)
    fks
      .get(r.tbl)
      ?.push({ from: JSON.parse(r.from_cols) as string[], table: r.ref, to: JSON.parse(r.to_cols) as string[] });
  return { shape, fks };
}

/** Tables, each after the tables its foreign keys name. */
function ordered(intro: Introspection): string[] {
  const out: string[] = [];
  const seen = new Set<string>();
  const visit = (t: string): void => {
    if (seen.has(t)) return;
    seen.add(t);
    for (const fk of intro.fks.get(t) ?? []) if (fk.table !== t) visit(fk.table);
    out.push(t);
  };
  for (const t of [...intro.shape.keys()].sort()) visit(t);
  return out;
}

const isInteger = (type: string): boolean => /^(INTEGER|bigint|integer)$/i.test(type);
const isReal = (type: string): boolean => /^(REAL|double precision|numeric)$/i.test(type);

/** `perTable` rows for every table, in an order they can be inserted in. */
export function representativeRows(intro: Introspection, perTable = 3): { table: string; rows: Row[] }[] {
  const made = new Map<string, Row[]>();
  const out: { table: string; rows: Row[] }[] = [];
  for (const table of ordered(intro)) {
    const rows: Row[] = [];
    for (let i = 0; i < perTable; i++) {
      const row: Row = {};
      for (const c of intro.shape.get(table)!.columns) {
        if (isInteger(c.type)) row[c.name] = i + 1;
        else if (isReal(c.type)) row[c.name] = i + 1.5;
        else if (c.name === 'at' || c.name.endsWith('_at'))
          row[c.name] = `2026-0${(i % 9) + 1}-1${i % 10}T09:00:00.000Z`;
        else row[c.name] = `${c.name}-${i + 1}`;
      }
      for (const fk of intro.fks.get(table) ?? []) {
        const parent = made.get(fk.table);
        if (!parent || parent.length === 0) continue;
        const p = parent[i % parent.length]!;
        fk.from.forEach((col, k) => (row[col] = p[fk.to[k]!] ?? null));
      }
      rows.push(row);
    }
    made.set(table, rows);
    out.push({ table, rows });
  }
  return out;
}

const q = (n: string): string => `"${n.replace(/"/g, '""')}"`;

export function insertSqlite(db: Database.Database, tables: { table: string; rows: Row[] }[]): void {
  db.transaction(() => {
    for (const { table, rows } of tables) {
      for (const r of rows) {
        const cols = Object.keys(r);
        db.prepare(
          `INSERT INTO ${q(table)} (${cols.map(q).join(', ')}) VALUES (${cols.map(() => '?').join(', ')})`,
        ).run(...cols.map((c) => r[c]));
      }
    }
  })();
}

export function insertPostgres(
  query: (text: string, values?: (string | null)[]) => unknown,
  tables: { table: string; rows: Row[] }[],
): void {
  for (const { table, rows } of tables) {
    for (const r of rows) {
      const cols = Object.keys(r);
      query(
        `INSERT INTO ${q(table)} (${cols.map(q).join(', ')}) VALUES (${cols.map((_, i) => `$${i + 1}`).join(', ')})`,
        cols.map((c) => (r[c] === null ? null : String(r[c]))),
      );
    }
  }
}

/** A column's value as text (null stays null): what snapshot() compares. */
function valueText(v: unknown): string | null {
  if (v === null || v === undefined) return null;
  if (Buffer.isBuffer(v)) return v.toString('utf8');
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'bigint' || typeof v === 'boolean') return String(v);
  throw new Error(`snapshot: a value of type ${typeof v} where text, numbers or bytes were expected`);
}

/** Each table's rows as sorted JSON text of their values (all as strings), on the given columns. */
export function snapshot(
  all: (table: string, cols: string[]) => unknown[][],
  shape: SchemaShape,
  columns?: Map<string, string[]>,
): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const [t, s] of shape) {
    const cols = columns?.get(t) ?? s.columns.map((c) => c.name);
    out.set(
      t,
      all(t, cols)
        .map((r) => JSON.stringify(r.map(valueText)))
        .sort(),
    );
  }
  return out;
}

export const selectSqlite =
  (db: Database.Database) =>
  (table: string, cols: string[]): unknown[][] =>
    db
      .prepare(`SELECT ${cols.map(q).join(', ')} FROM ${q(table)}`)
      .raw(true)
      .all() as unknown[][];
export const selectPostgres =
  (query: (text: string) => Record<string, unknown>[]) =>
  (table: string, cols: string[]): unknown[][] =>
    query(`SELECT ${cols.map(q).join(', ')} FROM ${q(table)}`).map((r) => cols.map((c) => r[c]));
