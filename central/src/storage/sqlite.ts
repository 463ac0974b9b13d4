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

/** Opens (or, with `create`, makes) the data directory's hub.sqlite, migrated and tuned for the hub. */
function openHubSqlite(dataDir: string, opts: OpenOptions): Database.Database {
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
  return db;
}

/**
 * The storage's transactions on the connection, with the commits counted and the after-commit effects run.
 * SQLite's total_changes() tells whether one wrote anything (a transaction that changed no row writes nothing
 * to the WAL, so costs no fsync) and whether rows changed outside them (statements that committed on their own).
 */
class SqliteTransactions {
  private readonly counts: CommitCounts = { full: 0, normal: 0 };
  private readonly totalChanges: Database.Statement;
  private accounted: number;
  private effects: (() => void)[] = [];
  private seq = 0;

  constructor(
    private readonly db: Database.Database,
    private readonly log: Logger | undefined,
  ) {
    this.totalChanges = db.prepare('SELECT total_changes()').pluck();
    this.accounted = this.changes();
  }

  readonly tx = <T>(fn: () => T): T =>
    this.db.inTransaction ? fn() : this.counted('full', () => this.db.transaction(fn).immediate());

  readonly relaxed = <T>(fn: () => T): T => {
    const { db } = this;
    if (db.inTransaction)
      throw new TbError(TbCodes.INTERNAL, 'a relaxed transaction cannot run inside another transaction');
    // synchronous is the connection's: NORMAL for this one commit, FULL again before anything else
    // can run (no await in between). One connection rather than a second one for these writes: a
    // second connection's commits would make this one drop its page cache.
    db.pragma('synchronous = NORMAL');
    try {
      return this.counted('normal', () => db.transaction(fn).immediate());
    } finally {
      db.pragma('synchronous = FULL');
    }
  };

  readonly savepoint = <T>(fn: () => T): T => {
    const { db } = this;
    if (!db.inTransaction) return this.counted('full', () => db.transaction(fn).immediate());
    const mark = this.effects.length;
    try {
      return db.transaction(fn)();
    } catch (err) {
      this.effects.length = mark; // the savepoint's own effects go with its writes
      throw err;
    }
  };

  readonly afterCommit = (effect: () => void): void => {
    if (this.db.inTransaction) this.effects.push(effect);
    else for (const err of runEffects([effect])) this.log?.error({ err }, 'an after-commit effect failed');
  };

  /** The transaction under way (a number of its own per transaction), or undefined outside one. */
  readonly id = (): number | undefined => (this.db.inTransaction ? this.seq : undefined);

  commits(): CommitCounts {
    if (!this.db.inTransaction) this.catchUp();
    return { ...this.counts };
  }

  private changes(): number {
    return this.totalChanges.get() as number;
  }

  /** Rows changed outside the transactions below: each a commit of its own. */
  private catchUp(): void {
    const n = this.changes();
    if (n > this.accounted) this.counts.full += n - this.accounted;
    this.accounted = n;
  }

  private counted<T>(sync: keyof CommitCounts, run: () => T): T {
    this.seq++;
    this.catchUp();
    let result: T;
    try {
      result = run();
    } catch (err) {
      this.accounted = this.changes(); // rolled back: no commit
      this.effects = [];
      throw err;
    }
    const n = this.changes();
    if (n > this.accounted) this.counts[sync]++;
    this.accounted = n;
    this.flushEffects();
    return result;
  }

  private flushEffects(): void {
    const run = this.effects;
    this.effects = [];
    for (const err of runEffects(run)) this.log?.error({ err }, 'an after-commit effect failed (the commit stands)');
  }
}

export function openSqliteStorage(dataDir: string, opts: OpenOptions = {}): SqliteHubStorage {
  const db = openHubSqlite(dataDir, opts);
  const txs = new SqliteTransactions(db, opts.log);
  const { tx, relaxed, savepoint, afterCommit } = txs;
  const sql: SqlDb = {
    engine: 'sqlite',
    prepare: (text) => db.prepare(text),
    exec: (text) => {
      db.exec(text);
    },
  };
  const deferred = new DeferredWrites({ tx, relaxed });
  return {
    engine: 'sqlite',
    notifier: new LocalNotifier({ afterCommit }),
    raw: db,
    db: sql,
    location: hubDbPath(dataDir),
    tx,
    savepoint,
    relaxed,
    afterCommit,
    inTransaction: () => db.inTransaction,
    transactionId: txs.id,
    isOpen: () => db.open,
    deferred,
    commits: () => txs.commits(),
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
