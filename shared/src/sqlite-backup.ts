import { basename, dirname, join } from 'node:path';
import { readdirSync, rmSync, statSync } from 'node:fs';
import { narrowToPrivate } from './private-files.js';

/** What a SQLite connection needs to copy itself (better-sqlite3's Database fits). */
export interface SqliteCopier {
  exec(sql: string): unknown;
}

/** How many pre-migration copies are kept beside a database (the oldest go first). */
/** Whether `err` is SQLite's SQLITE_BUSY or SQLITE_LOCKED (another connection holds the lock). */
export function isSqliteBusy(err: unknown): boolean {
  const code = (err as { code?: unknown }).code;
  return typeof code === 'string' && /^SQLITE_(BUSY|LOCKED)/.test(code);
}

export const PRE_MIGRATION_BACKUPS_KEPT = 3;

/** `<db>.pre-v<N>.bak`: the copy of `dbFile` taken before it was migrated from schema version N. */
export function preMigrationBackupPath(dbFile: string, fromVersion: number): string {
  return `${dbFile}.pre-v${fromVersion}.bak`;
}

/**
 * Before migrating a database that is not new (its schema version > 0): a consistent copy of it
 * to `<db>.pre-v<N>.bak`, made by SQLite itself from the open connection (`VACUUM INTO`: one read
 * transaction, so the copy is the database as of one commit, WAL included, and a complete database
 * file that SQLite opens as it is), 0600 like the database. A copy already at that path (an earlier
 * start that failed its migration) is replaced. Only the newest `keep` copies of this database are
 * kept. Returns the copy's path.
 *
 * Why not better-sqlite3's `backup()`: it is asynchronous, and the database is opened and migrated
 * synchronously before anything else runs; VACUUM INTO gives the same consistent copy in one call.
 */
export function backupBeforeMigration(
  db: SqliteCopier,
  dbFile: string,
  fromVersion: number,
  keep = PRE_MIGRATION_BACKUPS_KEPT,
): string {
  const target = preMigrationBackupPath(dbFile, fromVersion);
  rmSync(target, { force: true });
  db.exec(`VACUUM INTO '${target.replaceAll("'", "''")}'`);
  narrowToPrivate(target);
  pruneBackups(dbFile, keep);
  return target;
}

/** The pre-migration copies of `dbFile`, newest (highest version) first. */
export function listPreMigrationBackups(dbFile: string): { path: string; fromVersion: number }[] {
  const dir = dirname(dbFile);
  const prefix = `${basename(dbFile)}.pre-v`;
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  return names
    .filter((n) => n.startsWith(prefix) && n.endsWith('.bak'))
    .map((n) => ({ path: join(dir, n), fromVersion: Number(n.slice(prefix.length, -'.bak'.length)) }))
    .filter((b) => Number.isInteger(b.fromVersion) && statSync(b.path).isFile())
    .sort((a, b) => b.fromVersion - a.fromVersion);
}

function pruneBackups(dbFile: string, keep: number): void {
  for (const old of listPreMigrationBackups(dbFile).slice(Math.max(1, keep))) rmSync(old.path, { force: true });
}
