import Database from 'better-sqlite3';
import {
  ensurePrivateDir,
  openMigratedSqlite,
  preparePrivateSqlite,
  TbCodes,
  TbError,
  type Logger,
} from '@tillbridge/shared';
import { join } from 'node:path';
import { HUB_MIGRATIONS } from './schema.js';
import { DeferredWrites } from './deferred-writes.js';
import { LocalNotifier } from './notify.js';
import { runEffects, type CommitCounts, type HubStorage, type SqlDb } from './sql.js';

export function hubDbPath(dataDir: string): string {
  return join(dataDir, 'hub.sqlite');
}

export interface OpenOptions {
  create?: boolean;
  /** where an after-commit effect that throws is reported */
  log?: Logger;
}

/** The schema version the running code writes (SQLite's `user_version`). */
export const SQLITE_SCHEMA_VERSION = HUB_MIGRATIONS.length;

/**
 * The embedded engine: one SQLite file (WAL, synchronous=FULL) in the hub's data directory. One
 * process only: several hub processes need PostgreSQL (postgres.ts).
 */
/** SQLite's storage, with its connection for what only SQLite has (tests of its pragmas, the migration from SQLite). */
export interface SqliteHubStorage extends HubStorage {
  readonly raw: Database.Database;
}

export function openSqliteStorage(dataDir: string, opts: OpenOptions = {}): SqliteHubStorage {
  if (opts.create) ensurePrivateDir(dataDir);
  const file = hubDbPath(dataDir);
  // hub.sqlite and its -wal/-shm are 0600 whatever the directory or umask
  preparePrivateSqlite(file, Boolean(opts.create));
  const db = openMigratedSqlite(() => new Database(file, { fileMustExist: !opts.create }), {
    file,
    migrations: HUB_MIGRATIONS,
    program: 'hub',
    newerAdvice: 'run the newer tillbridge-hub',
    log: opts.log,
  });
  // 64 MiB of page cache (the default 2 MiB thrashes once a chain's inventory and ledger indexes grow)
  db.pragma('cache_size = -65536');
  // temporary tables (an import's staged rows) are worth nothing after a crash: no journal on disk, no fsync
  db.pragma('temp.journal_mode = MEMORY');
  db.pragma('temp.synchronous = OFF');
  // Commits are counted around the transactions below; SQLite's total_changes() tells whether one
  // wrote anything (a transaction that changed no row writes nothing to the WAL, so costs no fsync)
  // and whether rows changed outside them (statements that committed on their own).
  const totalChanges = db.prepare('SELECT total_changes()').pluck();
  const counts: CommitCounts = { full: 0, normal: 0 };
  let accounted = totalChanges.get() as number;
  const catchUp = (): void => {
    const n = totalChanges.get() as number;
    if (n > accounted) counts.full += n - accounted;
    accounted = n;
  };
  let effects: (() => void)[] = [];
  const flushEffects = (): void => {
    const run = effects;
    effects = [];
    for (const err of runEffects(run)) opts.log?.error({ err }, 'an after-commit effect failed (the commit stands)');
  };
  let txSeq = 0;
  const counted = <T>(sync: keyof CommitCounts, run: () => T): T => {
    txSeq++;
    catchUp();
    let result: T;
    try {
      result = run();
    } catch (err) {
      accounted = totalChanges.get() as number; // rolled back: no commit
      effects = [];
      throw err;
    }
    const n = totalChanges.get() as number;
    if (n > accounted) counts[sync]++;
    accounted = n;
    flushEffects();
    return result;
  };
  const tx = <T>(fn: () => T): T => (db.inTransaction ? fn() : counted('full', () => db.transaction(fn).immediate()));
  const relaxed = <T>(fn: () => T): T => {
    if (db.inTransaction)
      throw new TbError(TbCodes.INTERNAL, 'a relaxed transaction cannot run inside another transaction');
    // synchronous is the connection's: NORMAL for this one commit, FULL again before anything else
    // can run (no await in between). One connection rather than a second one for these writes: a
    // second connection's commits would make this one drop its page cache.
    db.pragma('synchronous = NORMAL');
    try {
      return counted('normal', () => db.transaction(fn).immediate());
    } finally {
      db.pragma('synchronous = FULL');
    }
  };
  const sql: SqlDb = {
    engine: 'sqlite',
    prepare: (text) => db.prepare(text),
    exec: (text) => {
      db.exec(text);
    },
  };
  const afterCommit = (effect: () => void): void => {
    if (db.inTransaction) effects.push(effect);
    else for (const err of runEffects([effect])) opts.log?.error({ err }, 'an after-commit effect failed');
  };
  const deferred = new DeferredWrites({ tx, relaxed });
  return {
    engine: 'sqlite',
    notifier: new LocalNotifier({ afterCommit }),
    raw: db,
    db: sql,
    location: hubDbPath(dataDir),
    tx,
    savepoint<T>(fn: () => T): T {
      if (!db.inTransaction) return counted('full', () => db.transaction(fn).immediate());
      const mark = effects.length;
      try {
        return db.transaction(fn)();
      } catch (err) {
        effects.length = mark; // the savepoint's own effects go with its writes
        throw err;
      }
    },
    relaxed,
    afterCommit,
    inTransaction: () => db.inTransaction,
    transactionId: () => (db.inTransaction ? txSeq : undefined),
    isOpen: () => db.open,
    deferred,
    commits(): CommitCounts {
      if (!db.inTransaction) catchUp();
      return { ...counts };
    },
    schemaVersion: () => db.pragma('user_version', { simple: true }) as number,
    close: () => {
      try {
        deferred.drain();
      } finally {
        db.close();
      }
    },
  };
}
