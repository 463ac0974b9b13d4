import { rmSync } from 'node:fs';
import { join } from 'node:path';
import {
  checkRestoreTarget,
  describeBackupFile,
  fileStamp,
  placeRestoredFile,
  prepareBackupDir,
  prepareRestoreTarget,
  readVerifiedManifest,
  requireOwner,
  sqliteOnlineCopy,
  writeManifest,
  type BackupFile,
  type BackupManifest,
  type OpenSqlite,
  type RestoreTarget,
  type SqliteConnection,
} from './backup-files.js';
import { refuseNewerBackup } from './backup-version.js';
import type { Clock } from './clock.js';
import { TbCodes, TbError } from './errors.js';

/**
 * The one backup and restore procedure of the hub and the agent (docs/backup.md), built from the
 * pieces in backup-files.ts. Each program passes what is its own: its format, its database and what
 * else it keeps, what its manifest says, and the checks only it can make.
 */

/** better-sqlite3's Database class: shared/ does not depend on it, each program passes its own. */
export type SqliteDriver = new (file: string, options: { fileMustExist: boolean }) => SqliteConnection;

/** The manifest without its files: what a program says of its backup (format, software, createdAt, schema…). */
export type BackupManifestHead = Pick<BackupManifest, 'format' | 'software' | 'createdAt' | 'schemaVersion'> &
  Record<string, unknown>;

export interface BackupPlan {
  /** The backup directory: new, or empty (made 0700). */
  dir: string;
  /** Whose data it is — "agent", "hub" — for the messages. */
  program: string;
  driver: SqliteDriver;
  /**
   * The program's database: a SQLite file (its owner checked), copied online into the backup as `name` (role
   * database); or one kept elsewhere (PostgreSQL, dumped with its own tools), of which only `schemaVersion` is read.
   */
  database: { sqlite: string; name: string } | { schemaVersion: () => number | null };
  /** Files copied into the backup after the database (e.g. copyIntoBackup of a key file). */
  alsoCopy?: () => BackupFile[];
  /** The manifest's head, in the order it is written, once the files are copied: the copy's schema version given. */
  manifest: (schemaVersion: number | null) => BackupManifestHead;
}

/**
 * Takes a backup: the database first (online, one consistent snapshot), then the program's other
 * files, then the manifest — written last, so a directory without one is a backup that did not
 * finish; when any step fails, the copy of the database is removed. Returns the manifest.
 */
export async function takeSqliteBackup(plan: BackupPlan): Promise<BackupManifest> {
  const { dir, database } = plan;
  if ('sqlite' in database) requireOwner(database.sqlite, `the ${plan.program}`);
  prepareBackupDir(dir);
  const copy = 'sqlite' in database ? join(dir, database.name) : undefined;
  const files: BackupFile[] = [];
  let head: BackupManifestHead;
  try {
    let schemaVersion: number | null;
    if ('sqlite' in database) {
      schemaVersion = await sqliteOnlineCopy(opener(plan.driver), database.sqlite, join(dir, database.name));
      files.push(describeBackupFile(dir, database.name, 'database'));
    } else {
      schemaVersion = database.schemaVersion();
    }
    files.push(...(plan.alsoCopy?.() ?? []));
    head = plan.manifest(schemaVersion);
  } catch (err) {
    // nothing half-made is left looking like a backup (no manifest was written)
    if (copy) rmSync(copy, { force: true });
    throw err;
  }
  const manifest: BackupManifest = { ...head, files };
  writeManifest(dir, manifest);
  return manifest;
}

/** One file of a backup and the name it takes in the data directory. */
export interface Placement {
  file: BackupFile;
  as: string;
}

export interface RestorePlan {
  /** The backup directory. */
  dir: string;
  /** The manifest's format, e.g. tillbridge-agent-backup/1. */
  format: string;
  /** Whose backup it is — "agent", "hub" — for the messages. */
  program: string;
  driver: SqliteDriver;
  /** The program's checks of the verified manifest (whose store, which engine); returns the newest schema it knows. */
  newestSchema: (m: BackupManifest) => number;
  /** After the version check: which files go where, in the order placed (throws when one it needs is not listed). */
  placements: (m: BackupManifest) => Placement[];
  /** Where it is restored to (its database, what is said when it is a file or in use). */
  target: Omit<RestoreTarget, 'program' | 'open'>;
  /** What is said when the data directory already holds the program's data (undefined: it holds none). */
  occupied: () => string | undefined;
  /** Replace what the data directory holds (kept aside as *.before-restore-*). */
  force: boolean;
  clock: Clock;
}

export interface RestoredBackup {
  manifest: BackupManifest;
  /** The files written, in the data directory. */
  restored: string[];
  /** What they replaced, kept beside them. */
  keptAside: string[];
  /** The stamp of the names of what was kept aside. */
  stamp: string;
}

/**
 * Restores a backup into a data directory: the manifest's checksums first (a file missing or
 * changed is refused, naming it), then the program's checks and the schema version (a newer
 * program's backup is refused), never over a database in use, over the program's data only with
 * `force` (what is replaced is kept aside). A database's -wal and -journal are moved aside with it.
 */
export function restoreSqliteBackup(plan: RestorePlan): RestoredBackup {
  const { dir, target } = plan;
  const manifest = readVerifiedManifest(dir, plan.format);
  refuseNewerBackup(dir, manifest, plan.program, plan.newestSchema(manifest));
  const placements = plan.placements(manifest);
  checkRestoreTarget({ ...target, program: `the ${plan.program}`, open: opener(plan.driver) });
  const occupied = plan.occupied();
  if (occupied !== undefined && !plan.force) throw new TbError(TbCodes.CONFLICT, occupied);
  prepareRestoreTarget(target.dataDir);
  const stamp = fileStamp(new Date(plan.clock.now()).toISOString());
  const restored: string[] = [];
  const keptAside: string[] = [];
  for (const { file, as } of placements) {
    const sqlite = file.role === 'database';
    keptAside.push(...placeRestoredFile(target.dataDir, as, join(dir, file.name), { sqlite, stamp }));
    restored.push(join(target.dataDir, as));
  }
  return { manifest, restored, keptAside, stamp };
}

/** Opens an existing database file (never makes one). */
function opener(driver: SqliteDriver): OpenSqlite {
  return (file) => new driver(file, { fileMustExist: true });
}
