import type { DeferredWrites } from './deferred-writes.js';
import type { Notifier } from './notify.js';

/**
 * The hub's storage contract, the same for every engine (SQLite embedded, PostgreSQL shared by
 * many hub processes). Repositories write portable SQL against `SqlDb` — `?` or `@name`
 * parameters, ISO timestamps as text, integers for booleans, ON CONFLICT upserts, RETURNING — and
 * never see a driver. The engine's own dialect (placeholders, a reserved word, types, locks) is the
 * storage layer's business: `sqlite.ts`, `postgres.ts`.
 *
 * Transactions are synchronous on both engines: a transaction never spans an `await`, so no two use
 * cases interleave inside one process, and on PostgreSQL every write transaction takes one
 * cluster-wide lock first, so writers across hub processes are serialized exactly as SQLite's
 * BEGIN IMMEDIATE serializes them (docs/scaling.md says what that costs and buys).
 */

export interface RunResult {
  /** rows the statement changed */
  changes: number;
}

/** A prepared statement: the same calls whatever the engine. */
export interface Statement {
  run(...params: unknown[]): RunResult;
  /** the first row, or undefined */
  get(...params: unknown[]): unknown;
  all(...params: unknown[]): unknown[];
  iterate(...params: unknown[]): IterableIterator<unknown>;
}

export type Engine = 'sqlite' | 'postgres';

export interface SqlDb {
  readonly engine: Engine;
  prepare(sql: string): Statement;
  /** Runs statements that take no parameters (DDL of temporary tables, tests). */
  exec(sql: string): void;
}

export interface CommitCounts {
  full: number;
  normal: number;
}

/**
 * What the hub owes durability to is committed synced (`tx`, `savepoint`). What it does not —
 * presence, last seen, heartbeat figures — goes through `deferred`, written in batches by `relaxed`
 * transactions (no wait for the disk). `commits()` counts both.
 */
export interface HubStorage {
  readonly engine: Engine;
  readonly db: SqlDb;
  /** Where it lives, for messages: a file path, or a PostgreSQL URL without its password. */
  readonly location: string;
  /**
   * Runs `fn` in one write transaction, committed synced. Inside a transaction already, `fn`
   * simply runs as part of it (no savepoint: the hot paths nest, and a savepoint per row costs).
   */
  tx<T>(fn: () => T): T;
  /**
   * Like `tx`, but nested it is a savepoint: when `fn` throws, only its own writes are undone (for callers that catch
   * and go on).
   */
  savepoint<T>(fn: () => T): T;
  /**
   * Runs `fn` in one write transaction whose commit does not wait for the disk: a crash may undo
   * it, never tear it; the next synced commit makes it durable. Only for what nobody is owed yet.
   * Refused inside a transaction.
   */
  relaxed<T>(fn: () => T): T;
  /**
   * Runs `effect` once the outermost transaction commits — pushes to agents, webhook wake-ups,
   * metrics — and never when it rolls back. Outside a transaction it runs at once. An effect that
   * throws is logged by the caller's logger, never undoes the commit.
   */
  afterCommit(effect: () => void): void;
  /** False once `close` has run. */
  isOpen(): boolean;
  /** True inside a transaction of this storage. */
  inTransaction(): boolean;
  /**
   * A number for the outermost transaction running now (a new one for each), or undefined outside
   * any: what gathers a transaction's changes for one after-commit effect keys them by it.
   */
  transactionId(): number | undefined;
  /** Writes nobody is owed, held in memory and written in batches of `relaxed` transactions. */
  readonly deferred: DeferredWrites;
  /**
   * Messages to the processes on this database (this one included) that leave with the commit:
   * PostgreSQL's NOTIFY/LISTEN, in-process on SQLite (`notify.ts`).
   */
  readonly notifier: Notifier;
  /** Commits since the storage was opened: synced (`full`) and not (`normal`). */
  commits(): CommitCounts;
  /** The schema version this storage is at (its migrations: `sqlite-schema.ts`, `postgres-schema.ts`). */
  schemaVersion(): number;
  /** Writes what `deferred` holds (synced), then closes. */
  close(): void;
}

/** A row the database refused because of a constraint (unique, foreign key, check, not null). */
export function isConstraintError(err: unknown): boolean {
  const code = (err as { code?: unknown; sqlState?: unknown } | null)?.code;
  if (typeof code === 'string' && code.startsWith('SQLITE_CONSTRAINT')) return true;
  // PostgreSQL: class 23, integrity constraint violation
  return typeof code === 'string' && /^23\d{3}$/.test(code);
}

/**
 * Runs the effects queued by `afterCommit` for one transaction, each on its own: one that throws
 * does not keep the others from running. Returns the errors for the caller to log.
 */
export function runEffects(effects: (() => void)[]): unknown[] {
  const errors: unknown[] = [];
  for (const e of effects) {
    try {
      e();
    } catch (err) {
      errors.push(err);
    }
  }
  return errors;
}
