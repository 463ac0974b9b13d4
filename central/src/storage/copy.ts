import Database from 'better-sqlite3';
import { existsSync } from 'node:fs';
import { isSqliteBusy, TbCodes, TbError } from '@tillbridge/shared';
import {
  errorMessage,
  MIGRATE_LOCK,
  openPgClient,
  PG_SCHEMA_VERSION,
  redactUrl,
  WRITE_LOCK,
  type PgClient,
} from './postgres.js';
import { PG_MIGRATIONS } from './postgres-schema.js';
import { hubDbPath, openSqliteStorage, SQLITE_SCHEMA_VERSION, type SqliteHubStorage } from './sqlite.js';

/**
 * Moving a hub from its SQLite file to PostgreSQL (`tillbridge-hub storage migrate`): every table,
 * row for row, into an empty database, in ONE PostgreSQL transaction — the schema, the rows, the
 * identity sequences and, last, the schema-version row. A failure anywhere rolls all of it back,
 * so the database is left as empty as it was: nothing a hub would start on.
 *
 * Rows are streamed (SQLite's `iterate`, a batch of rows per multi-row INSERT), never a table at
 * once; they are read in one SQLite read transaction, so the copy is one consistent snapshot.
 * Values are copied as they are stored (text, integers as exact 64-bit, sealed secrets as their
 * ciphertext): the data directory's hub.secret still opens them.
 */

function hubServing(dataDir: string): TbError {
  return new TbError(
    TbCodes.CONFLICT,
    `a hub is using ${hubDbPath(dataDir)} (another process has it open): ` +
      `stop \`tillbridge-hub serve --data ${dataDir}\` (and anything else that opened it) first, then migrate`,
  );
}

/**
 * Opens the data directory's SQLite hub for a copy, brought to the current schema, and holds it
 * EXCLUSIVELY until closed: refused (TB_CONFLICT) while another process — a serving hub — has the
 * file open, and no hub can open it while the copy runs. (In WAL mode every open connection holds
 * a shared lock on the -shm file, so an exclusive lock is granted only to the file's one user.)
 */
export function openSqliteExclusive(dataDir: string): SqliteHubStorage {
  const file = hubDbPath(dataDir);
  if (!existsSync(file)) throw new TbError(TbCodes.CONFIG, `no SQLite hub in ${dataDir} (${file} does not exist)`);
  // before anything is migrated: is someone using it?
  const probe = new Database(file, { fileMustExist: true });
  try {
    probe.pragma('busy_timeout = 0');
    probe.pragma('locking_mode = EXCLUSIVE');
    probe.exec('BEGIN EXCLUSIVE');
    probe.exec('ROLLBACK');
  } catch (err) {
    if (isSqliteBusy(err)) throw hubServing(dataDir);
    throw err;
  } finally {
    probe.close();
  }
  const s = openSqliteStorage(dataDir);
  try {
    // and from now until close, nobody else (a hub started meanwhile finds it locked)
    s.raw.pragma('busy_timeout = 0');
    s.raw.pragma('locking_mode = EXCLUSIVE');
    s.raw.exec('BEGIN EXCLUSIVE');
    s.raw.exec('COMMIT');
  } catch (err) {
    s.close();
    if (isSqliteBusy(err)) throw hubServing(dataDir);
    throw err;
  }
  return s;
}

/** A table's columns and their declared types, as each engine describes them. */
export interface TableShape {
  columns: { name: string; type: string }[];
}
export type SchemaShape = Map<string, TableShape>;

/** The tables of the engine's bookkeeping, not the hub's data. */
const PG_OWN_TABLES = new Set(['tillbridge_schema']);

/** The SQLite schema's tables and columns (types as declared, upper case). */
export function describeSqlite(db: Database.Database): SchemaShape {
  const shape: SchemaShape = new Map();
  const tables = db
    .prepare(
      `SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name`,
    )
    .pluck()
    .all() as string[];
  for (const t of tables) {
    const cols = db.prepare(`SELECT name, type FROM pragma_table_info(?) ORDER BY cid`).all(t) as {
      name: string;
      type: string;
    }[];
    shape.set(t, { columns: cols.map((c) => ({ name: c.name, type: c.type.toUpperCase() })) });
  }
  return shape;
}

type PgQuery = (text: string, values?: (string | null)[]) => Record<string, unknown>[];

/**
 * The PostgreSQL schema's tables and columns (in the connection's current schema), types as information_schema names
 * them.
 */
export function describePostgres(query: PgQuery): SchemaShape {
  const rows = query(
    `SELECT c.table_name, c.column_name, c.data_type
       FROM information_schema.columns c
       JOIN information_schema.tables t ON t.table_schema = c.table_schema AND t.table_name = c.table_name
      WHERE c.table_schema = current_schema() AND t.table_type = 'BASE TABLE'
      ORDER BY c.table_name, c.ordinal_position`,
  ) as { table_name: string; column_name: string; data_type: string }[];
  const shape: SchemaShape = new Map();
  for (const r of rows) {
    if (PG_OWN_TABLES.has(r.table_name)) continue;
    let t = shape.get(r.table_name);
    if (!t) shape.set(r.table_name, (t = { columns: [] }));
    t.columns.push({ name: r.column_name, type: r.data_type });
  }
  return shape;
}

/** The PostgreSQL type a SQLite declared type is written as in postgres-schema.ts. */
export function pgTypeFor(sqliteType: string): string | undefined {
  switch (sqliteType.toUpperCase()) {
    case 'INTEGER':
      return 'bigint';
    case 'TEXT':
      return 'text';
    case 'REAL':
      return 'double precision';
    case 'BLOB':
      return 'bytea';
    default:
      return undefined;
  }
}

/**
 * How the two schemas differ (empty when they match): a table or column only on one side, or a
 * column whose types do not map. What a migration added to one list only looks like.
 */
export function schemaDifferences(sqlite: SchemaShape, pg: SchemaShape): string[] {
  const out: string[] = [];
  for (const t of [...new Set([...sqlite.keys(), ...pg.keys()])].sort()) {
    const s = sqlite.get(t);
    const p = pg.get(t);
    if (!s) {
      out.push(`table ${t} only in PostgreSQL`);
      continue;
    }
    if (!p) {
      out.push(`table ${t} only in SQLite`);
      continue;
    }
    const pc = new Map(p.columns.map((c) => [c.name, c.type]));
    const sc = new Map(s.columns.map((c) => [c.name, c.type]));
    for (const [name, type] of sc) {
      const pt = pc.get(name);
      if (pt === undefined) out.push(`column ${t}.${name} only in SQLite`);
      else if (pgTypeFor(type) !== pt)
        out.push(
          `column ${t}.${name} is ${type || 'untyped'} in SQLite but ${pt} in PostgreSQL ` +
            `(expected ${pgTypeFor(type) ?? 'a mapped type'})`,
        );
    }
    for (const name of pc.keys()) if (!sc.has(name)) out.push(`column ${t}.${name} only in PostgreSQL`);
  }
  return out;
}

/** Tables in an order where each comes after every table its foreign keys name. */
export function insertOrder(db: Database.Database, tables: string[]): string[] {
  const deps = new Map<string, Set<string>>();
  for (const t of tables) {
    const refs = db
      .prepare(`SELECT DISTINCT "table" AS ref FROM pragma_foreign_key_list(?)`)
      .pluck()
      .all(t) as string[];
    deps.set(t, new Set(refs.filter((r) => r !== t && tables.includes(r))));
  }
  const out: string[] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (t: string, path: string[]): void => {
    const s = state.get(t);
    if (s === 'done') return;
    if (s === 'visiting')
      throw new TbError(
        TbCodes.INTERNAL,
        `the hub's tables reference each other in a cycle (${[...path, t].join(' → ')}): cannot order the copy`,
      );
    state.set(t, 'visiting');
    for (const d of [...(deps.get(t) ?? [])].sort()) visit(d, [...path, t]);
    state.set(t, 'done');
    out.push(t);
  };
  for (const t of [...tables].sort()) visit(t, []);
  return out;
}

export interface CopyProgress {
  table: string;
  /** rows of this table copied so far */
  copied: number;
  /** rows this table holds */
  total: number;
  /** rows of every table copied so far, and in all */
  copiedAll: number;
  totalAll: number;
}

export interface CopyOptions {
  /** rows per INSERT (capped so that a statement stays under PostgreSQL's 65 535 parameters); default 500 */
  batchRows?: number;
  onProgress?: (p: CopyProgress) => void;
}

export interface CopyResult {
  /** where the rows went, without a password */
  to: string;
  from: string;
  /** SQLite's schema version read, PostgreSQL's written */
  schemaVersion: { sqlite: number; postgres: number };
  /** every table, in the order copied, with its rows */
  tables: { table: string; rows: number }[];
  rows: number;
  /** identity columns set past the copied ids: the next id each hands out */
  sequences: { table: string; column: string; next: number }[];
  /** how the copy was committed */
  transaction: 'one';
}

const quote = (name: string): string => `"${name.replace(/"/g, '""')}"`;

function pgText(v: unknown): string | null {
  if (v === null || v === undefined) return null;
  if (typeof v === 'string') return v;
  if (typeof v === 'bigint') return v.toString();
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) throw new TypeError(`cannot store ${v}`);
    return String(v);
  }
  if (Buffer.isBuffer(v)) return `\\x${v.toString('hex')}`;
  throw new TypeError(`unexpected value of type ${typeof v}`);
}

/** Refuses a database that holds anything already: a hub (naming its schema version), or any table. */
function requireEmpty(query: PgQuery, location: string): void {
  const reg = query(`SELECT to_regclass('tillbridge_schema') AS t`)[0]?.t;
  if (reg) {
    const v = query('SELECT version FROM tillbridge_schema')[0]?.version;
    throw new TbError(
      TbCodes.CONFLICT,
      `the database ${location} already holds a hub (schema version ${typeof v === 'string' ? v : '?'}): ` +
        'migrate only into an empty database (create one: CREATE DATABASE …)',
    );
  }
  const tables = query(
    `SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() ORDER BY table_name`,
  ).map((r) => String(r.table_name));
  if (tables.length > 0) {
    const shown = tables.slice(0, 5).join(', ') + (tables.length > 5 ? `, … (${tables.length} in all)` : '');
    throw new TbError(
      TbCodes.CONFLICT,
      `the database ${location} is not empty (tables ${shown}): migrate only into an empty database`,
    );
  }
}

/** The copy under way: both connections, and the rows copied so far of every table. */
interface CopyRun {
  db: Database.Database;
  client: PgClient;
  query: PgQuery;
  location: string;
  opts: CopyOptions;
  totalAll: number;
  copiedAll: number;
  /** how many INSERTs were prepared: names the next one */
  statements: number;
}

/** Locks the empty database at `location` against hubs and writers, and makes the hub's schema in it. */
function createTarget(query: PgQuery, location: string): void {
  // hub processes starting on this database wait for the copy (they migrate under this lock), and so do writers
  query(`SELECT pg_advisory_xact_lock(${MIGRATE_LOCK})`);
  query(`SELECT pg_advisory_xact_lock(${WRITE_LOCK})`);
  requireEmpty(query, location);
  query('CREATE TABLE tillbridge_schema (version BIGINT NOT NULL)');
  for (const m of PG_MIGRATIONS) query(m);
}

/** The SQLite table's columns (the one place they are named: both schemas were found the same). */
function columnsOf(shape: SchemaShape, table: string): string[] {
  const t = shape.get(table);
  if (!t) throw new TbError(TbCodes.INTERNAL, `copying ${table}: the SQLite schema has no such table`);
  return t.columns.map((c) => c.name);
}

/** Copies one table's `total` rows, a multi-row INSERT at a time; the rows copied. */
function copyTable(run: CopyRun, table: string, cols: string[], total: number): number {
  const { client, location, opts } = run;
  const batch = Math.max(1, Math.min(opts.batchRows ?? 500, Math.floor(65_535 / cols.length)));
  const prepared = new Map<number, string>();
  const insertOf = (rows: number): string => {
    let name = prepared.get(rows);
    if (name) return name;
    const tuples: string[] = [];
    for (let r = 0; r < rows; r++) tuples.push(`(${cols.map((_, c) => `$${r * cols.length + c + 1}`).join(', ')})`);
    name = `tb_copy_${++run.statements}`;
    client.prepare(
      name,
      `INSERT INTO ${quote(table)} (${cols.map(quote).join(', ')}) VALUES ${tuples.join(', ')}`,
      rows * cols.length,
    );
    prepared.set(rows, name);
    return name;
  };
  let values: (string | null)[] = [];
  let pending = 0;
  let copied = 0;
  const flush = (): void => {
    if (pending === 0) return;
    try {
      client.execute(insertOf(pending), values);
    } catch (err) {
      throw new TbError(
        TbCodes.INTERNAL,
        `copying ${table} (rows ${copied + 1}..${copied + pending}) into ${location}: ${errorMessage(err)}`,
      );
    }
    copied += pending;
    run.copiedAll += pending;
    values = [];
    pending = 0;
    opts.onProgress?.({ table, copied, total, copiedAll: run.copiedAll, totalAll: run.totalAll });
  };
  // integers as BigInt: 64-bit values copied exactly
  const rows = run.db
    .prepare(`SELECT ${cols.map(quote).join(', ')} FROM ${quote(table)}`)
    .raw(true)
    .safeIntegers(true);
  for (const row of rows.iterate() as IterableIterator<unknown[]>) {
    for (const v of row) values.push(pgText(v));
    if (++pending === batch) flush();
  }
  flush();
  return copied;
}

/** Copies every table, in an order that puts rows before those that reference them. */
function copyTables(run: CopyRun, shape: SchemaShape): CopyResult['tables'] {
  const { db, query } = run;
  const order = insertOrder(db, [...shape.keys()]);
  const totals = order.map((table) => ({
    table,
    total: Number(
      db
        .prepare(`SELECT COUNT(*) FROM ${quote(table)}`)
        .pluck()
        .get(),
    ),
  }));
  run.totalAll = totals.reduce((sum, t) => sum + t.total, 0);
  const tables: CopyResult['tables'] = [];
  for (const { table, total } of totals) {
    const copied = copyTable(run, table, columnsOf(shape, table), total);
    const landed = Number(query(`SELECT COUNT(*) AS n FROM ${quote(table)}`)[0]?.n);
    if (copied !== total || landed !== total)
      throw new TbError(
        TbCodes.INTERNAL,
        `copying ${table}: ${total} rows in SQLite, ${copied} read, ${landed} in PostgreSQL`,
      );
    tables.push({ table, rows: copied });
    run.opts.onProgress?.({ table, copied, total, copiedAll: run.copiedAll, totalAll: run.totalAll });
  }
  return tables;
}

/** Sets the identity columns to hand out ids past the copied ones (a hub's next audit entry, policy version…). */
function advanceSequences(query: PgQuery): CopyResult['sequences'] {
  const identity = query(
    `SELECT table_name, column_name FROM information_schema.columns
      WHERE table_schema = current_schema() AND is_identity = 'YES' ORDER BY table_name, column_name`,
  ) as { table_name: string; column_name: string }[];
  const sequences: CopyResult['sequences'] = [];
  for (const { table_name: t, column_name: c } of identity) {
    const next = query(
      `SELECT setval(pg_get_serial_sequence($1, $2), COALESCE(MAX(${quote(c)}), 0) + 1, false) AS next
         FROM ${quote(t)}`,
      [quote(t), c],
    )[0]?.next;
    sequences.push({ table: t, column: c, next: Number(next) });
  }
  return sequences;
}

/** Ends what a failed copy left open: the SQLite snapshot, the PostgreSQL transaction. */
function rollBack(open: { sqlite: boolean; pg: boolean }, db: Database.Database, query: PgQuery): void {
  if (open.sqlite) {
    try {
      db.exec('ROLLBACK');
    } catch {
      /* already ended */
    }
  }
  if (open.pg) {
    try {
      query('ROLLBACK');
    } catch {
      /* the connection broke: the server rolls back */
    }
  }
}

/**
 * Copies the SQLite hub `source` (opened through openSqliteStorage, so at the current schema) into
 * the empty PostgreSQL database at `url`, which it creates at the current PostgreSQL schema. One
 * PostgreSQL transaction: on any error nothing is left behind. Throws TB_CONFLICT for a database
 * that is not empty, TB_INTERNAL when the two schemas differ (a migration in one list only).
 */
export function copySqliteToPostgres(source: SqliteHubStorage, url: string, opts: CopyOptions = {}): CopyResult {
  const location = redactUrl(url);
  const db = source.raw;
  const sqliteVersion = source.schemaVersion();
  if (sqliteVersion !== SQLITE_SCHEMA_VERSION)
    throw new TbError(
      TbCodes.INTERNAL,
      `${source.location} is at schema version ${sqliteVersion}, not ${SQLITE_SCHEMA_VERSION}: ` +
        'open it with openSqliteStorage first',
    );
  if (db.inTransaction) throw new TbError(TbCodes.INTERNAL, 'the SQLite source is inside a transaction');

  // every value as PostgreSQL sends it (text): only counts and ids are read back
  const client = openPgClient(url, { types: 'text' });
  const query: PgQuery = (text, values) => client.query(text, values);
  const open = { sqlite: false, pg: false };
  try {
    query('BEGIN');
    open.pg = true;
    createTarget(query, location);
    // one snapshot of the source for the whole copy
    db.exec('BEGIN');
    open.sqlite = true;
    const shape = describeSqlite(db);
    const diff = schemaDifferences(shape, describePostgres(query));
    if (diff.length > 0) {
      throw new TbError(
        TbCodes.INTERNAL,
        `this hub's SQLite schema (version ${sqliteVersion}) and PostgreSQL schema (version ${PG_SCHEMA_VERSION}) ` +
          `differ, so nothing was copied: ${diff.join('; ')}`,
      );
    }
    const run: CopyRun = { db, client, query, location, opts, totalAll: 0, copiedAll: 0, statements: 0 };
    const tables = copyTables(run, shape);
    const sequences = advanceSequences(query);
    // last: the row that makes it a hub
    query(`INSERT INTO tillbridge_schema (version) VALUES (${PG_SCHEMA_VERSION})`);
    db.exec('ROLLBACK'); // read only: ends the snapshot
    open.sqlite = false;
    query('COMMIT');
    open.pg = false;
    return {
      from: source.location,
      to: location,
      schemaVersion: { sqlite: sqliteVersion, postgres: PG_SCHEMA_VERSION },
      tables,
      rows: run.copiedAll,
      sequences,
      transaction: 'one',
    };
  } catch (err) {
    rollBack(open, db, query);
    if (err instanceof TbError) throw err;
    throw new TbError(TbCodes.INTERNAL, `copying into ${location}: ${errorMessage(err)}`);
  } finally {
    client.close();
  }
}
