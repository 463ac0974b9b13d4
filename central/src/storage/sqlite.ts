import Database from 'better-sqlite3';
import { ensurePrivateDir, preparePrivateSqlite, TbCodes, TbError } from '@tillbridge/shared';
import { join } from 'node:path';
import { HUB_MIGRATIONS } from './schema.js';
import { DeferredWrites } from './deferred-writes.js';

export type Db = Database.Database;

/**
 * The hub's storage: one SQLite file (WAL, synchronous=FULL) behind the small `HubStorage`
 * interface. The SQL is kept portable (ISO timestamps as text, ON CONFLICT upserts, explicit
 * transactions) so that a PostgreSQL implementation can follow.
 *
 * What is owed to someone is committed synced (`tx`, `savepoint`: an fsync per commit). What is
 * not — presence, last seen, heartbeat figures — goes through `deferred`, written in batches by
 * `relaxed` transactions (synchronous=NORMAL: no fsync; durable at the next synced commit or
 * checkpoint). `commits()` counts both.
 */
export interface HubStorage {
  readonly db: Db;
  /**
   * Runs `fn` in one write transaction (BEGIN IMMEDIATE), committed synced. Inside a transaction
   * already, `fn` simply runs as part of it (no savepoint: the hot paths nest, and a savepoint per row costs).
   */
  tx<T>(fn: () => T): T;
  /** Like `tx`, but nested it is a savepoint: when `fn` throws, only its own writes are undone (for callers that catch and go on). */
  savepoint<T>(fn: () => T): T;
  /**
   * Runs `fn` in one write transaction committed with synchronous=NORMAL: no fsync, so a crash may
   * undo it. Only for what nobody is owed. Refused inside a transaction (SQLite cannot change the
   * setting there).
   */
  relaxed<T>(fn: () => T): T;
  /** Writes nobody is owed, held in memory and written in batches of `relaxed` transactions. */
  readonly deferred: DeferredWrites;
  /**
   * Commits since the database was opened: synced (`full`) and not (`normal`). A write outside
   * any transaction of this interface counts as synced, once per row it changed (an upper bound).
   */
  commits(): CommitCounts;
  /** Writes what `deferred` holds (synced), then closes the database. */
  close(): void;
}

export interface CommitCounts {
  full: number;
  normal: number;
}

export function hubDbPath(dataDir: string): string {
  return join(dataDir, 'hub.sqlite');
}

export function openHubStorage(dataDir: string, opts: { create?: boolean } = {}): HubStorage {
  if (opts.create) ensurePrivateDir(dataDir);
  // hub.sqlite and its -wal/-shm are 0600 whatever the directory or umask
  preparePrivateSqlite(hubDbPath(dataDir), Boolean(opts.create));
  const db = new Database(hubDbPath(dataDir), { fileMustExist: !opts.create });
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = FULL');
  db.pragma('foreign_keys = ON');
  db.pragma('busy_timeout = 5000');
  // 64 MiB of page cache (the default 2 MiB thrashes once a chain's inventory and ledger indexes grow)
  db.pragma('cache_size = -65536');
  const version = db.pragma('user_version', { simple: true }) as number;
  for (let v = version; v < HUB_MIGRATIONS.length; v++) {
    db.transaction(() => {
      db.exec(HUB_MIGRATIONS[v]!);
      db.pragma(`user_version = ${v + 1}`);
    }).immediate();
  }
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
  const counted = <T>(sync: keyof CommitCounts, run: () => T): T => {
    catchUp();
    let result: T;
    try {
      result = run();
    } catch (err) {
      accounted = totalChanges.get() as number; // rolled back: no commit
      throw err;
    }
    const n = totalChanges.get() as number;
    if (n > accounted) counts[sync]++;
    accounted = n;
    return result;
  };
  const tx = <T>(fn: () => T): T => (db.inTransaction ? fn() : counted('full', () => db.transaction(fn).immediate()));
  const relaxed = <T>(fn: () => T): T => {
    if (db.inTransaction) throw new TbError(TbCodes.INTERNAL, 'a relaxed transaction cannot run inside another transaction');
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
  const deferred = new DeferredWrites({ tx, relaxed });
  return {
    db,
    tx,
    savepoint<T>(fn: () => T): T {
      const t = db.transaction(fn);
      return db.inTransaction ? t() : counted('full', () => t.immediate());
    },
    relaxed,
    deferred,
    commits(): CommitCounts {
      if (!db.inTransaction) catchUp();
      return { ...counts };
    },
    close: () => {
      try {
        deferred.drain();
      } finally {
        db.close();
      }
    },
  };
}
