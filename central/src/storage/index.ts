import { existsSync } from 'node:fs';
import Database from 'better-sqlite3';
import type { Logger } from '@tillbridge/shared';
import { hubDbPath, openSqliteStorage, SQLITE_SCHEMA_VERSION } from './sqlite.js';
import {
  isPostgresUrl,
  openPgClient,
  openPostgresStorage,
  PG_SCHEMA_VERSION,
  postgresHubExists,
  redactUrl,
} from './postgres.js';
import type { HubStorage } from './sql.js';

export type { Engine, HubStorage, SqlDb, Statement, RunResult, CommitCounts } from './sql.js';
export { isConstraintError } from './sql.js';
export type { Notifier, Listener, ListenOptions } from './notify.js';
export { hubDbPath, openSqliteStorage, SQLITE_SCHEMA_VERSION, type SqliteHubStorage } from './sqlite.js';
export {
  isPostgresUrl,
  redactUrl,
  PG_SCHEMA_VERSION,
  openPgClient,
  postgresSchemaVersion,
  type PgClient,
  type PgClientOptions,
} from './postgres.js';

export interface StorageOptions {
  /** Create the database (and its schema) when there is none. */
  create?: boolean;
  /**
   * Where the hub's data lives: a `postgres://` URL (several hub processes may share it), or
   * nothing for the embedded SQLite file in the data directory.
   */
  database?: string | undefined;
  log?: Logger;
}

/** Opens the hub's storage on the engine its options name, migrated to the running code's schema. */
export function openHubStorage(dataDir: string, opts: StorageOptions = {}): HubStorage {
  if (opts.database !== undefined && opts.database !== '') {
    return openPostgresStorage(opts.database, {
      ...(opts.create ? { create: true } : {}),
      ...(opts.log ? { log: opts.log } : {}),
    });
  }
  return openSqliteStorage(dataDir, {
    ...(opts.create ? { create: true } : {}),
    ...(opts.log ? { log: opts.log } : {}),
  });
}

/**
 * Whether the named database already holds a hub: looked at, not opened (nothing migrates; the
 * caller opens the storage once, with openHubStorage). A PostgreSQL server that cannot be reached
 * throws TB_STORAGE_BUSY rather than answering no.
 */
export function storageExists(dataDir: string, database?: string): boolean {
  if (database === undefined || database === '') return existsSync(hubDbPath(dataDir));
  return postgresHubExists(database);
}

/** The hub's database opened to be looked at, not used: the rows of plain SQL (`tillbridge-hub doctor`). */
export interface StorageProbe {
  all(sql: string): Record<string, unknown>[];
  close(): void;
}

/**
 * Opens the hub's database as it is, whatever its schema version, nothing migrated: the SQLite file in the data
 * directory read-only (it must exist), or a plain connection to the PostgreSQL URL, named `applicationName` in
 * pg_stat_activity.
 */
export function openStorageProbe(dataDir: string, database: string | undefined, applicationName: string): StorageProbe {
  if (database) {
    const c = openPgClient(database, { types: 'hub', applicationName });
    return { all: (sql) => c.query(sql), close: () => c.close() };
  }
  const db = new Database(hubDbPath(dataDir), { readonly: true, fileMustExist: true });
  return { all: (sql) => db.prepare(sql).all() as Record<string, unknown>[], close: () => db.close() };
}

/** Where the storage is, for messages: the SQLite file or the PostgreSQL URL without its password. */
export function storageLocation(dataDir: string, database?: string): string {
  return database ? redactUrl(database) : hubDbPath(dataDir);
}

/**
 * better-sqlite3's constructor, for SQLite's online backup API (shared's backup procedure opens the file it
 * copies, and the file it restores over, with it): the one driver, handed out by the seam that owns it.
 */
export const SQLITE_DRIVER: typeof Database = Database;

/** The schema version of each engine the running code writes. */
export const SCHEMA_VERSIONS = { sqlite: SQLITE_SCHEMA_VERSION, postgres: PG_SCHEMA_VERSION } as const;

export { isPostgresUrl as isDatabaseUrl };
