import { TbCodes, TbError } from './errors.js';
import type { Logger } from './logger.js';
import { backupBeforeMigration, type SqliteCopier } from './sqlite-backup.js';

/** What opening and migrating needs of a SQLite connection (better-sqlite3's Database fits). */
export interface MigratableSqlite extends SqliteCopier {
  pragma(source: string, options?: { simple?: boolean }): unknown;
  transaction(fn: () => void): { immediate(): void };
  close(): unknown;
}

/** A program's SQLite file and the schema it keeps in it. */
export interface SqliteSchema {
  /** the database file: named in messages; the pre-migration copy goes beside it */
  file: string;
  /** numbered migrations (SQLite's `user_version` counts those applied), each run in one transaction */
  migrations: readonly string[];
  /** the program, as a message about a database newer than it names it (`hub`, `tillbridge-agent`) */
  program: string;
  /** what to do about a database newer than this program, before "or restore the copy…" */
  newerAdvice: string;
  /** Defaults to FULL: a commit survives power loss. */
  synchronous?: 'FULL' | 'NORMAL';
  /** where the pre-migration copy is reported */
  log?: Logger | undefined;
}

/**
 * Opens a program's SQLite file the way the hub and the agent keep theirs — WAL, `synchronous`
 * (FULL unless told), foreign keys, a 5 s busy timeout — and brings its schema to the newest
 * migration: a file newer than this program is refused (TB_CONFIG), and one that is not new gets a
 * consistent copy first (`<file>.pre-v<N>.bak`, docs/upgrade.md). On any failure the connection is
 * closed and the error thrown.
 */
export function openMigratedSqlite<D extends MigratableSqlite>(open: () => D, schema: SqliteSchema): D {
  const db = open();
  try {
    db.pragma('journal_mode = WAL');
    db.pragma(`synchronous = ${schema.synchronous ?? 'FULL'}`);
    db.pragma('foreign_keys = ON');
    db.pragma('busy_timeout = 5000');
    migrateSqlite(db, schema);
    return db;
  } catch (err) {
    db.close();
    throw err;
  }
}

function migrateSqlite(db: MigratableSqlite, schema: SqliteSchema): void {
  const { file, migrations, log } = schema;
  const newest = migrations.length;
  const version = db.pragma('user_version', { simple: true }) as number;
  if (version > newest) {
    throw new TbError(
      TbCodes.CONFIG,
      `${file} is at schema version ${version}, newer than this ${schema.program} (${newest}): ` +
        `${schema.newerAdvice}, or restore the copy taken before it migrated (${file}.pre-v<N>.bak, docs/upgrade.md)`,
    );
  }
  if (version > 0 && version < newest) {
    // an upgrade: a consistent copy first, to go back to with the older program (docs/upgrade.md)
    try {
      const copy = backupBeforeMigration(db, file, version);
      const message = `copied the database to ${copy} before migrating it from schema version ${version} to ${newest}`;
      log?.info({ backup: copy, from: version, to: newest }, message);
    } catch (err) {
      throw new TbError(
        TbCodes.CONFIG,
        `could not copy ${file} before migrating it from schema version ${version}: ${(err as Error).message} ` +
          '(free some disk space, or make its directory writable)',
        { cause: err },
      );
    }
  }
  applySqliteMigrations(db, migrations, newest);
}

/** Applies `migrations` from the file's version up to `target` (a fixture generator stops short of the newest). */
export function applySqliteMigrations(db: MigratableSqlite, migrations: readonly string[], target: number): void {
  const version = db.pragma('user_version', { simple: true }) as number;
  for (let v = version; v < target; v++) {
    db.transaction(() => {
      const migration = migrations[v];
      if (migration === undefined) throw new Error(`no migration from schema version ${v} to ${v + 1}`);
      db.exec(migration);
      db.pragma(`user_version = ${v + 1}`);
    }).immediate();
  }
}
