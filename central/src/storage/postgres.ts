import Client from 'pg-native';
import { createHash } from 'node:crypto';
import { TbCodes, TbError, type Logger } from '@tillbridge/shared';
import { DeferredWrites } from './deferred-writes.js';
import { bindValues, toPostgres, type PgStatementText } from './dialect.js';
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

/** SQLSTATEs worth retrying: serialization failure, deadlock, lock not available, admin shutdown, cannot connect now. */
const RETRY_STATES = new Set(['40001', '40P01', '55P03', '57P01', '57P02', '57P03']);

export function isPostgresUrl(s: string | undefined): s is string {
  return typeof s === 'string' && /^postgres(ql)?:\/\//i.test(s);
}

/** The URL with its password masked, for messages and logs. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return 'postgres://…';
  }
}

// libpq answers text; these keep values as SQLite gives them: integers and counts as numbers,
// booleans as 1/0, everything else (text, ISO timestamps we store as text) as is.
const NUMERIC_OIDS = new Set([20, 21, 23, 26, 700, 701, 1700]);
const TYPES = {
  getTypeParser(oid: number): (v: string) => unknown {
    if (NUMERIC_OIDS.has(oid)) return Number;
    if (oid === 16) return (v: string) => (v === 't' ? 1 : 0);
    return (v: string) => v;
  },
};

export interface PgOpenOptions {
  create?: boolean;
  log?: Logger;
  /** application_name, seen in pg_stat_activity (default tillbridge-hub) */
  applicationName?: string;
}

/**
 * Closes a libpq connection. libpq's binding closes its socket watcher with uv_close, which
 * completes on a later turn of the event loop, inside the connection object: the object is held a
 * few seconds so the garbage collector cannot free it first (that aborts the process).
 */
const retired = new Set<Client>();
export function finishClient(c: Client): void {
  try {
    c.pq.finish();
  } catch {
    /* already gone */
  }
  retired.add(c);
  setTimeout(() => retired.delete(c), 5000).unref();
}

/** A PostgreSQL error with its SQLSTATE as `code`, as SQLite's errors carry theirs. */
class PgError extends Error {
  constructor(message: string, readonly code: string | undefined) {
    super(message.trim());
    this.name = 'PgError';
  }
}

/**
 * One synchronous libpq connection (node-postgres's native binding, pg-native), reopened when it
 * breaks. The hub's repositories are synchronous by design (a transaction never spans an await);
 * each hub process holds one such connection, as it held one SQLite connection.
 */
class Connection {
  private client: Client | undefined;
  private prepared = new Map<string, string>();
  private generation = 0;

  constructor(
    private readonly url: string,
    private readonly appName: string,
  ) {}

  private open(): Client {
    if (this.client) return this.client;
    const c = new Client({ types: TYPES });
    try {
      const u = new URL(this.url);
      if (!u.searchParams.has('application_name')) u.searchParams.set('application_name', this.appName);
      c.connectSync(u.toString());
    } catch (err) {
      finishClient(c);
      throw new TbError(TbCodes.STORAGE_BUSY, `PostgreSQL at ${redactUrl(this.url)} cannot be reached: ${String((err as Error).message).trim()}`);
    }
    this.client = c;
    this.prepared = new Map();
    this.generation++;
    return c;
  }

  /** Whether the connection is open and idle or in a transaction (not broken). */
  private broken(c: Client): boolean {
    const s = c.pq.transactionStatus();
    return s === 4; // PQTRANS_UNKNOWN: the connection is bad
  }

  private fail(c: Client, err: unknown): never {
    const fields = (c.pq.resultErrorFields?.() ?? {}) as { sqlState?: string };
    const code = fields.sqlState;
    if (!code || this.broken(c)) {
      this.drop();
      // the connection broke (the server restarted, the network dropped): worth retrying, the next statement reconnects
      throw new TbError(TbCodes.STORAGE_BUSY, `PostgreSQL connection lost: ${String((err as Error).message).trim()}`);
    }
    if (RETRY_STATES.has(code)) throw new TbError(TbCodes.STORAGE_BUSY, `PostgreSQL asked to retry (${code}): ${String((err as Error).message).trim()}`);
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

  execute(st: PgStatementText, values: (string | null)[]): { rows: Record<string, unknown>[]; changes: number } {
    const c = this.open();
    let name = this.prepared.get(st.text);
    try {
      if (!name) {
        name = `tb_${createHash('sha1').update(st.text).digest('hex').slice(0, 16)}`;
        c.prepareSync(name, st.text, values.length);
        this.prepared.set(st.text, name);
      }
      const rows = c.executeSync(name, values);
      return { rows, changes: Number(c.pq.cmdTuples()) || 0 };
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

export function openPostgresStorage(url: string, opts: PgOpenOptions = {}): HubStorage {
  const conn = new Connection(url, opts.applicationName ?? 'tillbridge-hub');
  const location = redactUrl(url);
  try {
    migrate(conn, location, Boolean(opts.create));
  } catch (err) {
    conn.drop(); // refused (no hub, a newer schema) or failed: nothing left open
    throw err;
  }

  const counts: CommitCounts = { full: 0, normal: 0 };
  let depth = 0; // 0: no transaction; 1: a transaction; >1: savepoints in it
  let wrote = false;
  let effects: (() => void)[] = [];

  const flushEffects = (): void => {
    const run = effects;
    effects = [];
    for (const err of runEffects(run)) opts.log?.error({ err }, 'an after-commit effect failed (the commit stands)');
  };

  const inTx = (): boolean => depth > 0;
  let closed = false;
  let txSeq = 0;

  const transaction = <T>(sync: keyof CommitCounts, fn: () => T): T => {
    conn.query('BEGIN');
    depth = 1;
    txSeq++;
    wrote = false;
    try {
      if (sync === 'normal') conn.query('SET LOCAL synchronous_commit = off');
      conn.query(`SELECT pg_advisory_xact_lock(${WRITE_LOCK})`);
      const result = fn();
      conn.query('COMMIT');
      depth = 0;
      if (wrote) counts[sync]++;
      flushEffects();
      return result;
    } catch (err) {
      depth = 0;
      effects = [];
      try {
        if (conn.status() !== 'closed') conn.query('ROLLBACK');
      } catch {
        /* the connection broke: the server rolls back */
      }
      throw err;
    }
  };

  const tx = <T>(fn: () => T): T => (inTx() ? fn() : transaction('full', fn));
  const relaxed = <T>(fn: () => T): T => {
    if (inTx()) throw new TbError(TbCodes.INTERNAL, 'a relaxed transaction cannot run inside another transaction');
    return transaction('normal', fn);
  };
  const savepoint = <T>(fn: () => T): T => {
    if (!inTx()) return transaction('full', fn);
    const name = `sp${depth}`;
    conn.query(`SAVEPOINT ${name}`);
    depth++;
    const mark = effects.length;
    try {
      const result = fn();
      depth--;
      conn.query(`RELEASE SAVEPOINT ${name}`);
      return result;
    } catch (err) {
      depth--;
      effects.length = mark;
      if (conn.status() === 'transaction' || conn.status() === 'error') {
        conn.query(`ROLLBACK TO SAVEPOINT ${name}`);
        conn.query(`RELEASE SAVEPOINT ${name}`);
      }
      throw err;
    }
  };

  const run = (st: PgStatementText, params: unknown[]): { rows: Record<string, unknown>[]; changes: number } => {
    if (closed) throw new TbError(TbCodes.INTERNAL, 'the hub storage is closed');
    const values = bindValues(st, params);
    if (!inTx() && !/^\s*(SELECT|WITH)\b/i.test(st.text)) {
      // a write on its own is a transaction of its own, under the same lock as every other write
      return tx(() => run(st, params));
    }
    const r = conn.execute(st, values);
    if (r.changes > 0 && !/^\s*SELECT\b/i.test(st.text)) wrote = true;
    return r;
  };

  const db: SqlDb = {
    engine: 'postgres',
    prepare(sql: string): Statement {
      const st = toPostgres(sql);
      return {
        run: (...params: unknown[]): RunResult => ({ changes: run(st, params).changes }),
        get: (...params: unknown[]) => run(st, params).rows[0],
        all: (...params: unknown[]) => run(st, params).rows,
        iterate: (...params: unknown[]) => run(st, params).rows[Symbol.iterator](),
      };
    },
    exec(sql: string): void {
      if (!inTx()) tx(() => conn.query(toPostgres(sql).text));
      else conn.query(toPostgres(sql).text);
    },
  };

  const deferred = new DeferredWrites({ tx, relaxed });
  return {
    engine: 'postgres',
    db,
    location,
    tx,
    savepoint,
    relaxed,
    afterCommit(effect) {
      if (inTx()) effects.push(effect);
      else for (const err of runEffects([effect])) opts.log?.error({ err }, 'an after-commit effect failed');
    },
    inTransaction: inTx,
    transactionId: () => (inTx() ? txSeq : undefined),
    isOpen: () => !closed,
    deferred,
    commits: () => ({ ...counts }),
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

function schemaVersionOf(conn: Connection): number {
  const t = conn.query(`SELECT to_regclass('tillbridge_schema') AS t`).rows[0]?.t;
  if (!t) return 0;
  return Number(conn.query('SELECT version FROM tillbridge_schema').rows[0]?.version ?? 0);
}

/** Brings the database to the running code's schema, once, whichever process gets there first. */
function migrate(conn: Connection, location: string, create: boolean): void {
  conn.query('BEGIN');
  try {
    conn.query(`SELECT pg_advisory_xact_lock(${MIGRATE_LOCK})`);
    let version = schemaVersionOf(conn);
    if (version === 0 && !create) {
      throw new TbError(TbCodes.CONFIG, `no hub in the database ${location}: run \`tillbridge-hub init --database ${location}\` first`);
    }
    if (version > PG_MIGRATIONS.length) {
      throw new TbError(TbCodes.CONFIG, `the database ${location} is at schema version ${version}, newer than this hub (${PG_MIGRATIONS.length}): run the newer tillbridge-hub`);
    }
    if (version === 0) {
      conn.query('CREATE TABLE tillbridge_schema (version BIGINT NOT NULL)');
      conn.query('INSERT INTO tillbridge_schema (version) VALUES (0)');
    }
    for (; version < PG_MIGRATIONS.length; version++) {
      conn.query(PG_MIGRATIONS[version]!);
      conn.query(`UPDATE tillbridge_schema SET version = ${version + 1}`);
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
