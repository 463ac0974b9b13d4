import Client from 'pg-native';
import { createHash } from 'node:crypto';
import { maskUrlPassword, TbCodes, TbError, type Logger } from '@tillbridge/shared';
import { DeferredWrites } from './deferred-writes.js';
import { bindValues, shapeOf, toPostgres, type PgStatementText } from './dialect.js';
import { PgNotifier } from './postgres-notify.js';
import { PG_MIGRATIONS } from './postgres-schema.js';
import { runEffects, type CommitCounts, type HubStorage, type RunResult, type SqlDb, type Statement } from './sql.js';

/** The schema version the running code writes on PostgreSQL. */
export const PG_SCHEMA_VERSION = PG_MIGRATIONS.length;

/**
 * Every write transaction takes this transaction-scoped advisory lock first: writers are
 * serialized across all hub processes on one database, as SQLite's BEGIN IMMEDIATE serializes
 * them in one file. It is what keeps the audit chain one chain and a last unit reserved once.
 */
export const WRITE_LOCK = 0x7462_6877; // 'tbhw'
/** Taken while migrating, so that hub processes starting together migrate once. */
export const MIGRATE_LOCK = 0x7462_686d; // 'tbhm'

/**
 * SQLSTATEs worth retrying: serialization failure, deadlock, lock not available, admin shutdown, cannot connect now.
 */
const RETRY_STATES = new Set(['40001', '40P01', '55P03', '57P01', '57P02', '57P03']);

export function isPostgresUrl(s: string | undefined): s is string {
  return typeof s === 'string' && /^postgres(ql)?:\/\//i.test(s);
}

/** The URL with its password masked, for messages and logs. */
export function redactUrl(url: string): string {
  return maskUrlPassword(url, 'postgres://…');
}

// libpq answers text; these keep values as SQLite gives them: integers and counts as numbers,
// booleans as 1/0, everything else (text, ISO timestamps we store as text) as is.
const NUMERIC_OIDS = new Set([20, 21, 23, 26, 700, 701, 1700]);
const asText = (v: string): string => v;
const asFlag = (v: string): number => (v === 't' ? 1 : 0);
const HUB_TYPES = {
  getTypeParser(oid: number): (v: string) => unknown {
    if (NUMERIC_OIDS.has(oid)) return Number;
    if (oid === 16) return asFlag;
    return asText;
  },
};
/** Every value as PostgreSQL sends it, text (storage migrate, schema checks). */
const TEXT_TYPES = { getTypeParser: (): ((v: string) => unknown) => asText };

export interface PgOpenOptions {
  create?: boolean;
  log?: Logger;
  /** application_name, seen in pg_stat_activity (default tillbridge-hub) */
  applicationName?: string;
  /** Rows `iterate` fetches at a time through its cursor (default 1000). */
  iterateBatch?: number;
}

/** Rows a statement's `iterate` holds at a time, by default. */
export const ITERATE_BATCH = 1000;

/**
 * Closes a libpq connection. libpq's binding closes its socket watcher with uv_close, which
 * completes on a later turn of the event loop, inside the connection object: the object is held a
 * few seconds so the garbage collector cannot free it first (that aborts the process).
 */
const retired = new Set<Client>();
function finishClient(c: Client): void {
  try {
    c.pq.finish();
  } catch {
    /* already gone */
  }
  retired.add(c);
  setTimeout(() => retired.delete(c), 5000).unref();
}

/** A libpq connection to `url`: TB_STORAGE_BUSY, naming the server (without its password), when it cannot be made. */
function connectClient(url: string, types: 'hub' | 'text', applicationName: string | undefined): Client {
  const c = new Client({ types: types === 'hub' ? HUB_TYPES : TEXT_TYPES });
  try {
    let target = url;
    if (applicationName) {
      const u = new URL(url);
      if (!u.searchParams.has('application_name')) u.searchParams.set('application_name', applicationName);
      target = u.toString();
    }
    c.connectSync(target);
  } catch (err) {
    finishClient(c);
    throw new TbError(TbCodes.STORAGE_BUSY, `PostgreSQL at ${redactUrl(url)} cannot be reached: ${errorMessage(err)}`);
  }
  return c;
}

/** A plain synchronous PostgreSQL connection, outside the hub's storage (storage migrate, test databases). */
export interface PgClient {
  /** Runs `text` (with `$n` parameters when `values` are given) and answers its rows. */
  query(text: string, values?: (string | null)[]): Record<string, unknown>[];
  /** Prepares `text` (`params` parameters) under `name`, for `execute`. */
  prepare(name: string, text: string, params: number): void;
  execute(name: string, values: (string | null)[]): Record<string, unknown>[];
  /** Closes the connection (through `finishClient`); again is harmless. */
  close(): void;
}

export interface PgClientOptions {
  /** How values come back: as the hub's storage reads them (numbers, 1/0) or all as text (default). */
  types?: 'hub' | 'text';
  /** application_name, seen in pg_stat_activity */
  applicationName?: string;
}

/** Opens a plain connection to `url`: the one way code outside the storage connects to PostgreSQL. */
export function openPgClient(url: string, opts: PgClientOptions = {}): PgClient {
  const c = connectClient(url, opts.types ?? 'text', opts.applicationName);
  let open = true;
  return {
    query: (text, values) => (values ? c.querySync(text, values) : c.querySync(text)),
    prepare: (name, text, params) => c.prepareSync(name, text, params),
    execute: (name, values) => c.executeSync(name, values),
    close: () => {
      if (!open) return;
      open = false;
      finishClient(c);
    },
  };
}

/** A PostgreSQL error with its SQLSTATE as `code`, as SQLite's errors carry theirs. */
class PgError extends Error {
  constructor(
    message: string,
    readonly code: string | undefined,
  ) {
    super(message.trim());
    this.name = 'PgError';
  }
}

/**
 * A statement's text prepared under one name on the connection: prepared at its first run on each
 * connection (a reconnection starts a new one), then only executed.
 */
class Prepared {
  readonly name: string;
  /** the connection it was last prepared on (Connection.generation) */
  generation = 0;
  constructor(
    readonly text: string,
    readonly params: number,
  ) {
    this.name = `tb_${createHash('sha1').update(text).digest('hex').slice(0, 16)}`;
  }
}

/** What `prepare` works out once for a statement: its PostgreSQL text, shape and prepared forms. */
class PgStatement {
  readonly main: Prepared;
  /** the statement cut to its first row, for `get`, when that is safe */
  readonly first: Prepared | undefined;
  readonly readOnly: boolean;
  readonly cursor: boolean;
  constructor(readonly st: PgStatementText) {
    const params = st.names ? st.names.length : st.positional;
    const shape = shapeOf(st.text);
    this.main = new Prepared(st.text, params);
    this.first = shape.firstRow !== undefined ? new Prepared(shape.firstRow, params) : undefined;
    this.readOnly = shape.readOnly;
    this.cursor = shape.cursor;
  }
}

/**
 * Statements kept translated per storage (prepare of the same SQL again reuses them); past this many, the cache starts
 * over.
 */
const STATEMENT_CACHE = 2000;

/**
 * One synchronous libpq connection (node-postgres's native binding, pg-native), reopened when it
 * breaks. The hub's repositories are synchronous by design (a transaction never spans an await);
 * each hub process holds one such connection, as it held one SQLite connection.
 */
class Connection {
  private client: Client | undefined;
  /** names prepared on this connection (two statement objects may share a text) */
  private prepared = new Set<string>();
  /** which connection this is: each reconnection counts one (0: none yet) */
  generation = 0;

  constructor(
    private readonly url: string,
    private readonly appName: string,
  ) {}

  private open(): Client {
    if (this.client) return this.client;
    const c = connectClient(this.url, 'hub', this.appName);
    this.client = c;
    this.prepared = new Set();
    this.generation++;
    return c;
  }

  /** Whether the connection is open and idle or in a transaction (not broken). */
  private broken(c: Client): boolean {
    const s = c.pq.transactionStatus();
    return s === 4; // PQTRANS_UNKNOWN: the connection is bad
  }

  private fail(c: Client, err: unknown): never {
    const fields = (c.pq.resultErrorFields() ?? {}) as { sqlState?: string };
    const code = fields.sqlState;
    if (!code || this.broken(c)) {
      this.drop();
      // the connection broke (the server restarted, the network dropped): worth retrying, the next statement reconnects
      throw new TbError(TbCodes.STORAGE_BUSY, `PostgreSQL connection lost: ${errorMessage(err)}`);
    }
    if (RETRY_STATES.has(code))
      throw new TbError(TbCodes.STORAGE_BUSY, `PostgreSQL asked to retry (${code}): ${errorMessage(err)}`);
    throw new PgError((err as Error).message, code);
  }

  /** Forgets the connection (it broke, or the storage closes). */
  drop(): void {
    const c = this.client;
    this.client = undefined;
    if (c) finishClient(c);
  }

  query(text: string, values?: (string | null)[]): { rows: Record<string, unknown>[]; changes: number } {
    const c = this.open();
    let rows: Record<string, unknown>[];
    try {
      rows = values ? c.querySync(text, values) : c.querySync(text);
    } catch (err) {
      this.fail(c, err);
    }
    return { rows, changes: Number(c.pq.cmdTuples()) || 0 };
  }

  /** Runs a prepared statement, preparing it first on a connection that has not seen it. */
  execute(
    p: Prepared,
    values: (string | null)[],
    changes: boolean,
  ): { rows: Record<string, unknown>[]; changes: number } {
    const c = this.open();
    try {
      if (p.generation !== this.generation) {
        if (!this.prepared.has(p.name)) {
          c.prepareSync(p.name, p.text, p.params);
          this.prepared.add(p.name);
        }
        p.generation = this.generation;
      }
      const rows = c.executeSync(p.name, values);
      return { rows, changes: changes ? Number(c.pq.cmdTuples()) || 0 : 0 };
    } catch (err) {
      this.fail(c, err);
    }
  }

  status(): 'idle' | 'transaction' | 'error' | 'closed' {
    if (!this.client) return 'closed';
    const s = this.client.pq.transactionStatus();
    return s === 0 ? 'idle' : s === 2 || s === 1 ? 'transaction' : s === 3 ? 'error' : 'closed';
  }
}

/** What anything thrown says, trimmed (a driver's message ends in a newline). */
export function errorMessage(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).trim();
}

// what a transaction sends first, in one round trip: BEGIN, (not synced) and the write lock
const BEGIN_FULL = `BEGIN; SELECT pg_advisory_xact_lock(${WRITE_LOCK})`;
const BEGIN_NORMAL = `BEGIN; SET LOCAL synchronous_commit = off; SELECT pg_advisory_xact_lock(${WRITE_LOCK})`;

/** The storage's transactions on its one connection: nesting (savepoints), after-commit effects, commit counts. */
class PgTransactions {
  readonly counts: CommitCounts = { full: 0, normal: 0 };
  /** 0: no transaction; 1: a transaction; >1: savepoints in it */
  private depth = 0;
  /** statements that changed rows: a transaction that changed none is not counted as a commit */
  private writes = 0;
  private effects: (() => void)[] = [];
  private seq = 0;

  constructor(
    private readonly conn: Connection,
    private readonly log: Logger | undefined,
  ) {}

  readonly inTx = (): boolean => this.depth > 0;

  /** The transaction under way (a number of its own per transaction), or undefined outside one. */
  readonly id = (): number | undefined => (this.inTx() ? this.seq : undefined);

  noteWrite(): void {
    this.writes++;
  }

  readonly tx = <T>(fn: () => T): T => (this.inTx() ? fn() : this.transaction('full', fn));

  readonly relaxed = <T>(fn: () => T): T => {
    if (this.inTx()) throw new TbError(TbCodes.INTERNAL, 'a relaxed transaction cannot run inside another transaction');
    return this.transaction('normal', fn);
  };

  readonly savepoint = <T>(fn: () => T): T => {
    if (!this.inTx()) return this.transaction('full', fn);
    const { conn } = this;
    const name = `sp${this.depth}`;
    conn.query(`SAVEPOINT ${name}`);
    this.depth++;
    const mark = this.effects.length;
    try {
      const result = fn();
      this.depth--;
      conn.query(`RELEASE SAVEPOINT ${name}`);
      return result;
    } catch (err) {
      this.depth--;
      this.effects.length = mark;
      if (conn.status() === 'transaction' || conn.status() === 'error') {
        conn.query(`ROLLBACK TO SAVEPOINT ${name}`);
        conn.query(`RELEASE SAVEPOINT ${name}`);
      }
      throw err;
    }
  };

  afterCommit(effect: () => void): void {
    if (this.inTx()) this.effects.push(effect);
    else for (const err of runEffects([effect])) this.log?.error({ err }, 'an after-commit effect failed');
  }

  private transaction<T>(sync: keyof CommitCounts, fn: () => T): T {
    const { conn } = this;
    this.depth = 1;
    this.seq++;
    const writesBefore = this.writes;
    try {
      conn.query(sync === 'normal' ? BEGIN_NORMAL : BEGIN_FULL);
      const result = fn();
      conn.query('COMMIT');
      this.depth = 0;
      if (this.writes > writesBefore) this.counts[sync]++;
      this.flushEffects();
      return result;
    } catch (err) {
      this.depth = 0;
      this.effects = [];
      try {
        // (also when the lock was not had: BEGIN went in the same round trip)
        if (conn.status() === 'transaction' || conn.status() === 'error') conn.query('ROLLBACK');
      } catch {
        /* the connection broke: the server rolls back */
      }
      throw err;
    }
  }

  private flushEffects(): void {
    const run = this.effects;
    this.effects = [];
    for (const err of runEffects(run)) this.log?.error({ err }, 'an after-commit effect failed (the commit stands)');
  }
}

/**
 * The rows of a read, `batch` at a time, through the cursor `name`: WITH HOLD, so that it outlives
 * the transaction it was opened in (or, outside one, the statement), closed once read or given up.
 */
function* cursorRows(
  conn: Connection,
  ps: PgStatement,
  values: (string | null)[],
  batch: number,
  name: () => string,
): Generator<Record<string, unknown>> {
  const cursor = name();
  conn.query(`DECLARE ${cursor} NO SCROLL CURSOR WITH HOLD FOR ${ps.st.text}`, values);
  const generation = conn.generation;
  let open = true;
  const close = (): void => {
    if (!open) return;
    open = false;
    // on the connection it was opened on, unless that is in a failed transaction (the rollback drops it)
    if (conn.generation === generation && (conn.status() === 'idle' || conn.status() === 'transaction'))
      conn.query(`CLOSE ${cursor}`);
  };
  try {
    for (;;) {
      if (conn.generation !== generation)
        throw new TbError(TbCodes.STORAGE_BUSY, 'PostgreSQL connection lost while reading rows');
      const rows = conn.query(`FETCH FORWARD ${batch} FROM ${cursor}`).rows;
      if (rows.length < batch) close();
      yield* rows;
      if (rows.length < batch) return;
    }
  } finally {
    try {
      close();
    } catch {
      /* the connection broke: the server dropped the cursor */
    }
  }
}

/**
 * The repositories' SQL on the connection: statements prepared once (a bounded cache), a write outside a
 * transaction in one of its own.
 */
function postgresDb(conn: Connection, txs: PgTransactions, batch: number, requireOpen: () => void): SqlDb {
  let cursorSeq = 0;
  /** Runs `p` (the statement's own text, or its first-row form). */
  const run = (
    ps: PgStatement,
    p: Prepared,
    values: (string | null)[],
  ): { rows: Record<string, unknown>[]; changes: number } => {
    requireOpen();
    if (ps.readOnly) return conn.execute(p, values, false);
    // a write on its own is a transaction of its own, under the same lock as every other write
    if (!txs.inTx()) return txs.tx(() => run(ps, p, values));
    const r = conn.execute(p, values, true);
    if (r.changes > 0) txs.noteWrite();
    return r;
  };
  const cursorName = (): string => {
    requireOpen();
    return `tb_cursor_${++cursorSeq}`;
  };

  let statements = new Map<string, PgStatement>();
  const statementFor = (sql: string): PgStatement => {
    let ps = statements.get(sql);
    if (!ps) {
      ps = new PgStatement(toPostgres(sql));
      if (statements.size >= STATEMENT_CACHE) statements = new Map();
      statements.set(sql, ps);
    }
    return ps;
  };

  return {
    engine: 'postgres',
    prepare(sql: string): Statement {
      const ps = statementFor(sql);
      return {
        run: (...params: unknown[]): RunResult => ({ changes: run(ps, ps.main, bindValues(ps.st, params)).changes }),
        get: (...params: unknown[]) => run(ps, ps.first ?? ps.main, bindValues(ps.st, params)).rows[0],
        all: (...params: unknown[]) => run(ps, ps.main, bindValues(ps.st, params)).rows,
        iterate: (...params: unknown[]) => {
          const values = bindValues(ps.st, params);
          return ps.cursor
            ? cursorRows(conn, ps, values, batch, cursorName)
            : run(ps, ps.main, values).rows[Symbol.iterator]();
        },
      };
    },
    exec(sql: string): void {
      if (!txs.inTx()) txs.tx(() => conn.query(toPostgres(sql).text));
      else conn.query(toPostgres(sql).text);
    },
  };
}

export function openPostgresStorage(url: string, opts: PgOpenOptions = {}): HubStorage {
  const conn = new Connection(url, opts.applicationName ?? 'tillbridge-hub');
  const location = redactUrl(url);
  const batch = opts.iterateBatch ?? ITERATE_BATCH;
  if (!Number.isInteger(batch) || batch < 1)
    throw new TbError(TbCodes.INTERNAL, `iterateBatch: expected a whole number of rows ≥ 1, got ${batch}`);
  try {
    migrate(conn, location, Boolean(opts.create), opts.log);
  } catch (err) {
    conn.drop(); // refused (no hub, a newer schema) or failed: nothing left open
    throw err;
  }

  let closed = false;
  const requireOpen = (): void => {
    if (closed) throw new TbError(TbCodes.INTERNAL, 'the hub storage is closed');
  };
  const txs = new PgTransactions(conn, opts.log);
  const { tx, relaxed, savepoint } = txs;
  const db = postgresDb(conn, txs, batch, requireOpen);
  const deferred = new DeferredWrites({ tx, relaxed });
  return {
    engine: 'postgres',
    db,
    location,
    notifier: new PgNotifier(db, url, location, opts.log),
    tx,
    savepoint,
    relaxed,
    afterCommit: (effect) => txs.afterCommit(effect),
    inTransaction: txs.inTx,
    transactionId: txs.id,
    isOpen: () => !closed,
    deferred,
    commits: () => ({ ...txs.counts }),
    schemaVersion: () => schemaVersionOf(conn),
    close: () => {
      try {
        deferred.drain();
      } finally {
        closed = true;
        conn.drop();
      }
    },
  };
}

/**
 * Whether the database at `url` holds a hub (its schema table), looked at without migrating or
 * taking any lock: `serve` and `tokens create` check this, then open the storage once. Throws
 * TB_STORAGE_BUSY when the server cannot be reached (that is no answer to "is there a hub").
 */
export function postgresHubExists(url: string): boolean {
  const c = openPgClient(url, { applicationName: 'tillbridge-hub' });
  try {
    return c.query(`SELECT to_regclass('tillbridge_schema') AS t`)[0]?.t != null;
  } finally {
    c.close();
  }
}

/**
 * The schema version of the hub in the database at `url` (null: no hub there), read without migrating:
 * what `tillbridge-hub backup` writes in the manifest of a hub on PostgreSQL.
 */
export function postgresSchemaVersion(url: string, applicationName: string): number | null {
  const c = openPgClient(url, { applicationName });
  try {
    if (c.query(`SELECT to_regclass('tillbridge_schema') AS t`)[0]?.t == null) return null;
    return Number(c.query('SELECT version FROM tillbridge_schema')[0]?.version ?? 0);
  } finally {
    c.close();
  }
}

function schemaVersionOf(conn: Connection): number {
  const t = conn.query(`SELECT to_regclass('tillbridge_schema') AS t`).rows[0]?.t;
  if (!t) return 0;
  return Number(conn.query('SELECT version FROM tillbridge_schema').rows[0]?.version ?? 0);
}

/** Brings the database to the running code's schema, once, whichever process gets there first. */
/**
 * The command that copies a hub's PostgreSQL database before an upgrade migrates it (the hub does
 * not run it: the dump belongs with the operator's backups, on their schedule). docs/upgrade.md.
 */
export function pgDumpCommand(location: string, fromVersion: number): string {
  return `pg_dump --format=custom --file=tillbridge-hub-pre-v${fromVersion}.dump '${location}'`;
}

function migrate(conn: Connection, location: string, create: boolean, log?: Logger): void {
  conn.query('BEGIN');
  try {
    conn.query(`SELECT pg_advisory_xact_lock(${MIGRATE_LOCK})`);
    const version = schemaVersionOf(conn);
    if (version === 0 && !create) {
      throw new TbError(
        TbCodes.CONFIG,
        `no hub in the database ${location}: run \`tillbridge-hub init --database ${location}\` first`,
      );
    }
    if (version > PG_MIGRATIONS.length) {
      throw new TbError(
        TbCodes.CONFIG,
        `the database ${location} is at schema version ${version}, newer than this hub (${PG_MIGRATIONS.length}): ` +
          'run the newer tillbridge-hub, or restore the pg_dump taken before the upgrade (docs/upgrade.md)',
      );
    }
    if (version > 0 && version < PG_MIGRATIONS.length) {
      log?.warn(
        { from: version, to: PG_MIGRATIONS.length, backup: pgDumpCommand(location, version) },
        `migrating the database ${location} from schema version ${version} to ${PG_MIGRATIONS.length}; ` +
          `to go back later, a copy from before is needed: ${pgDumpCommand(location, version)} ` +
          '(run it with the hub stopped, before upgrading; docs/upgrade.md)',
      );
    }
    if (version === 0) {
      conn.query('CREATE TABLE tillbridge_schema (version BIGINT NOT NULL)');
      conn.query('INSERT INTO tillbridge_schema (version) VALUES (0)');
    }
    for (const [index, migration] of PG_MIGRATIONS.entries()) {
      if (index < version) continue;
      conn.query(migration);
      conn.query(`UPDATE tillbridge_schema SET version = ${index + 1}`);
    }
    conn.query('COMMIT');
  } catch (err) {
    try {
      conn.query('ROLLBACK');
    } catch {
      /* broken connection: rolled back by the server */
    }
    throw err;
  }
}
