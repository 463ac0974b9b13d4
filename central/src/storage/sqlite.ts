import Database from 'better-sqlite3';
import { ensurePrivateDir, preparePrivateSqlite } from '@tillbridge/shared';
import { join } from 'node:path';
import { HUB_MIGRATIONS } from './schema.js';

export type Db = Database.Database;

/**
 * The hub's storage: one SQLite file (WAL, synchronous=FULL) behind the small `HubStorage`
 * interface. The SQL is kept portable (ISO timestamps as text, ON CONFLICT upserts, explicit
 * transactions) so that a PostgreSQL implementation can follow.
 */
export interface HubStorage {
  readonly db: Db;
  /**
   * Runs `fn` in one write transaction (BEGIN IMMEDIATE). Inside a transaction already, `fn` simply
   * runs as part of it (no savepoint: the hot paths nest, and a savepoint per row costs).
   */
  tx<T>(fn: () => T): T;
  /** Like `tx`, but nested it is a savepoint: when `fn` throws, only its own writes are undone (for callers that catch and go on). */
  savepoint<T>(fn: () => T): T;
  close(): void;
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
  return {
    db,
    tx<T>(fn: () => T): T {
      if (db.inTransaction) return fn();
      return db.transaction(fn).immediate();
    },
    savepoint<T>(fn: () => T): T {
      const t = db.transaction(fn);
      return db.inTransaction ? t() : t.immediate();
    },
    close: () => db.close(),
  };
}
