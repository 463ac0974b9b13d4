import { createHash } from 'node:crypto';
import {
  chmodSync,
  closeSync,
  existsSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
} from 'node:fs';
import { join } from 'node:path';
import { TbCodes, TbError } from './errors.js';
import { isSqliteBusy } from './sqlite-backup.js';
import {
  ensurePrivateDir,
  PRIVATE_DIR_MODE,
  PRIVATE_FILE_MODE,
  sqliteCompanions,
  writePrivateFile,
} from './private-files.js';

/**
 * What the hub's and the agent's `backup` and `restore` share (docs/backup.md): a backup is a
 * directory (0700) of files (0600) and a `manifest.json` naming each file with its size and
 * SHA-256, so a restore refuses a copy that was cut short, damaged or changed, naming the file.
 * The checksums catch damage, not a forger: whoever can rewrite the files can rewrite the manifest.
 */

export const MANIFEST_FILE = 'manifest.json';

export interface BackupFile {
  /** The file's name in the backup directory (and in the data directory it is restored to). */
  name: string;
  /** What it is: database, secret, signing-key. */
  role: string;
  bytes: number;
  sha256: string;
}

export interface BackupManifest {
  /** e.g. tillbridge-hub-backup/1 */
  format: string;
  /** The software that took it, e.g. tillbridge-hub/0.1.0 */
  software: string;
  /** When it was taken (ISO 8601, the process's clock). */
  createdAt: string;
  /** The database's schema version in the backup (SQLite user_version; PostgreSQL tillbridge_schema). */
  schemaVersion: number | null;
  files: BackupFile[];
  /** Per program: what else a restore needs to know. */
  [extra: string]: unknown;
}

export function sha256File(file: string): string {
  return createHash('sha256').update(readFileSync(file)).digest('hex');
}

/** A backup directory: made 0700 (narrowed if it exists); refused when it already holds a backup. */
export function prepareBackupDir(dir: string): void {
  if (existsSync(dir)) {
    if (!statSync(dir).isDirectory())
      throw new TbError(TbCodes.INVALID, `${dir}: expected a directory for the backup, found a file`);
    if (existsSync(join(dir, MANIFEST_FILE)))
      throw new TbError(
        TbCodes.CONFLICT,
        `${dir} already holds a backup (${MANIFEST_FILE}): give a new directory (e.g. one named by date)`,
      );
    const left = readdirSync(dir);
    if (left.length > 0)
      throw new TbError(
        TbCodes.CONFLICT,
        `${dir} is not empty (${left.slice(0, 3).join(', ')}${left.length > 3 ? ', …' : ''}): give a new ` +
          'or empty directory',
      );
  }
  mkdirSync(dir, { recursive: true, mode: PRIVATE_DIR_MODE });
  if (process.platform !== 'win32') chmodSync(dir, PRIVATE_DIR_MODE);
}

/** Copies `from` into the backup directory as `name` (0600, fsynced) and describes it. */
export function copyIntoBackup(dir: string, name: string, from: string, role: string): BackupFile {
  writePrivateFile(join(dir, name), readFileSync(from));
  return describeBackupFile(dir, name, role);
}

/** A file already in the backup directory: narrowed to 0600, fsynced, its size and checksum. */
export function describeBackupFile(dir: string, name: string, role: string): BackupFile {
  const file = join(dir, name);
  if (process.platform !== 'win32') chmodSync(file, PRIVATE_FILE_MODE);
  fsyncFile(file);
  return { name, role, bytes: statSync(file).size, sha256: sha256File(file) };
}

/** Writes the manifest last: a directory without one is a backup that did not finish. */
export function writeManifest(dir: string, manifest: BackupManifest): void {
  writePrivateFile(join(dir, MANIFEST_FILE), `${JSON.stringify(manifest, null, 2)}\n`);
  fsyncFile(join(dir, MANIFEST_FILE));
  fsyncDir(dir);
}

/** Whether a manifest's entry of "files" has a plain file name (not the manifest's), a size and a checksum. */
function isWellFormedFile(entry: unknown): boolean {
  if (typeof entry !== 'object' || entry === null) return false;
  const { name, sha256, bytes } = entry as Partial<Record<keyof BackupFile, unknown>>;
  return (
    typeof name === 'string' &&
    /^[A-Za-z0-9._-]+$/.test(name) &&
    name !== MANIFEST_FILE &&
    typeof sha256 === 'string' &&
    typeof bytes === 'number'
  );
}

/** `parsed` (any JSON) as a manifest of `format` that lists well-formed files; TB_INVALID if it is not one. */
function checkedManifestShape(file: string, format: string, parsed: unknown): BackupManifest {
  const fields: Partial<Record<keyof BackupManifest, unknown>> | undefined =
    typeof parsed === 'object' && parsed !== null ? parsed : undefined;
  const claimed = fields?.format;
  if (fields === undefined || claimed !== format) {
    const other = typeof claimed === 'string' && claimed.startsWith('tillbridge-');
    throw new TbError(
      TbCodes.INVALID,
      `${file}: expected "format": "${format}", got ` +
        `${JSON.stringify(claimed)}${other ? ' (a backup of the other program?)' : ''}`,
    );
  }
  const files: unknown = fields.files;
  if (!Array.isArray(files) || files.length === 0)
    throw new TbError(TbCodes.INVALID, `${file}: "files" must list the backup's files`);
  for (const entry of files as unknown[]) {
    if (!isWellFormedFile(entry)) {
      throw new TbError(
        TbCodes.INVALID,
        `${file}: each of "files" needs a plain file name, "bytes" and "sha256", got ${JSON.stringify(entry)}`,
      );
    }
  }
  return fields as BackupManifest;
}

/**
 * Reads a backup's manifest and checks every file it names against it (present, size, SHA-256).
 * Throws TB_INVALID naming the file that is missing or differs, or what is wrong with the manifest.
 */
export function readVerifiedManifest(dir: string, format: string): BackupManifest {
  const file = join(dir, MANIFEST_FILE);
  if (!existsSync(dir)) throw new TbError(TbCodes.INVALID, `${dir}: no such backup directory`);
  if (!existsSync(file))
    throw new TbError(TbCodes.INVALID, `${dir} holds no ${MANIFEST_FILE}: not a backup, or one that did not finish`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new TbError(TbCodes.INVALID, `${file} is not JSON: ${(err as Error).message}`);
  }
  const m = checkedManifestShape(file, format, parsed);
  // every file missing is named at once; then each is checked
  const missing = m.files.filter((f) => !existsSync(join(dir, f.name)));
  if (missing.length > 0) {
    throw new TbError(
      TbCodes.INVALID,
      `${missing.map((f) => `${join(dir, f.name)} (${f.role})`).join(', ')} ` +
        `${missing.length > 1 ? 'are' : 'is'} missing: the manifest lists ` +
        `${missing.length > 1 ? 'them' : 'it'}; the backup is incomplete`,
    );
  }
  for (const f of m.files) {
    const path = join(dir, f.name);
    const size = statSync(path).size;
    if (size !== f.bytes)
      throw new TbError(
        TbCodes.INVALID,
        `${path} is ${size} bytes, the manifest says ${f.bytes}: the file was cut short or changed`,
      );
    const sum = sha256File(path);
    if (sum !== f.sha256)
      throw new TbError(
        TbCodes.INVALID,
        `${path} does not match its checksum in the manifest (sha256 ${sum}, expected ${f.sha256}): the ` +
          'file was damaged or changed',
      );
  }
  return m;
}

/** The manifest's entry for `role`, if it lists one. */
export function backupFileOf(m: BackupManifest, role: string): BackupFile | undefined {
  return m.files.find((f) => f.role === role);
}

/**
 * Puts a backup's file into a data directory: written beside its target at 0600, fsynced, then
 * renamed over it. For a SQLite database, whatever -wal, -shm or -journal the replaced database
 * left (an agent killed mid-write leaves a WAL) is moved aside with it — a WAL left beside the
 * restored file would be replayed into it. What it replaced is kept as NAME.before-restore-STAMP
 * (and its -wal), never deleted; returns those names.
 */
export function placeRestoredFile(
  dataDir: string,
  name: string,
  from: string,
  opts: { sqlite?: boolean; stamp: string },
): string[] {
  const target = join(dataDir, name);
  const tmp = `${target}.restoring`;
  writePrivateFile(tmp, readFileSync(from));
  fsyncFile(tmp);
  const kept: string[] = [];
  const aside = `${target}.before-restore-${opts.stamp}`;
  const companions = opts.sqlite ? sqliteCompanions(target).slice(1) : [];
  if (existsSync(target)) {
    renameSync(target, aside);
    kept.push(aside);
  }
  for (const c of companions) {
    if (!existsSync(c)) continue;
    if (c.endsWith('-shm'))
      rmSync(c, { force: true }); // an index SQLite rebuilds
    else {
      const to = `${aside}${c.slice(target.length)}`;
      renameSync(c, to);
      kept.push(to);
    }
  }
  renameSync(tmp, target);
  fsyncDir(dataDir);
  return kept;
}

/** A timestamp for file names, from an ISO instant: 2026-11-30T23-59-01Z. */
export function fileStamp(iso: string): string {
  return iso.replace(/\.\d+Z$/, 'Z').replace(/:/g, '-');
}

function fsyncFile(file: string): void {
  const fd = openSync(file, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

function fsyncDir(dir: string): void {
  if (process.platform === 'win32') return;
  try {
    fsyncFile(dir);
  } catch {
    /* some filesystems refuse to fsync a directory: the renames are still made */
  }
}

/**
 * What the backup needs of a better-sqlite3 connection (shared/ does not depend on it: each program passes its own).
 */
export interface SqliteConnection {
  pragma(source: string, options?: { simple?: boolean }): unknown;
  exec(source: string): unknown;
  backup(
    destination: string,
    options?: { progress?: (info: { totalPages: number; remainingPages: number }) => number },
  ): Promise<unknown>;
  close(): unknown;
}
export type OpenSqlite = (file: string) => SqliteConnection;

/**
 * Refuses (TB_CONFIG) to work on `path` (a database, a data directory) as a user other than its
 * owner: SQLite would make the -wal and -shm files beside a database as this user, a restore its
 * files, and the program that owns them could not open them again.
 */
export function requireOwner(path: string, program: string): void {
  if (!process.getuid || process.platform === 'win32') return;
  const owner = statSync(path).uid;
  if (process.getuid() !== owner) {
    throw new TbError(
      TbCodes.CONFIG,
      `${path} belongs to uid ${owner}: run this as that user (the one ${program} runs as), e.g. sudo -u <that user> …`,
    );
  }
}

/**
 * An online, consistent copy of a SQLite database in WAL mode while its owner keeps writing: the
 * SQLite backup API, copying every page in one step (one read transaction: a snapshot; in WAL
 * mode writers are not blocked, and a write cannot make the copy start over). The copy is then
 * made a single file (journal_mode DELETE) and checked (quick_check). Returns its schema version.
 */
export async function sqliteOnlineCopy(open: OpenSqlite, source: string, destination: string): Promise<number> {
  const src = open(source);
  try {
    src.pragma('busy_timeout = 10000');
    await src.backup(destination, { progress: () => 0x7fffffff });
  } finally {
    src.close();
  }
  const copy = open(destination);
  try {
    copy.pragma('journal_mode = DELETE');
    const check = copy.pragma('quick_check', { simple: true });
    if (check !== 'ok')
      throw new TbError(
        TbCodes.INTERNAL,
        `the copy of ${source} does not pass SQLite's quick_check (${String(check)}): nothing was kept`,
      );
    return Number(copy.pragma('user_version', { simple: true }));
  } finally {
    copy.close();
  }
}

/**
 * Whether another process has `dbFile` open (a serving hub, a running agent): an exclusive lock
 * is asked for without waiting. In WAL mode every open connection holds a shared lock, so it is
 * granted only to the file's one user.
 */
export function sqliteInUse(open: OpenSqlite, dbFile: string): boolean {
  if (!existsSync(dbFile)) return false;
  const probe = open(dbFile);
  try {
    probe.pragma('busy_timeout = 0');
    probe.pragma('locking_mode = EXCLUSIVE');
    probe.exec('BEGIN EXCLUSIVE');
    probe.exec('ROLLBACK');
    return false;
  } catch (err) {
    if (isSqliteBusy(err)) return true;
    throw err;
  } finally {
    probe.close();
  }
}

/** Where a restore writes, and what it says when it may not. */
export interface RestoreTarget {
  dataDir: string;
  /** The SQLite database in it (checked even when the program's data is elsewhere: PostgreSQL). */
  dbFile: string;
  /** Whose files they are, for `requireOwner`'s message: "the hub", "the agent". */
  program: string;
  open: OpenSqlite;
  /** Thrown when `dataDir` is a file. */
  notADirectory: () => TbError;
  /** The TB_CONFLICT message when another process has `dbFile` open (the program is running). */
  inUse: string;
}

/**
 * Checks a data directory before a restore writes into it — a directory (or nothing yet), owned by
 * whoever runs the restore (the program's user, who will own the restored files), its database not
 * open in another process (a restore never replaces a database in use) — then makes it (0700).
 * Call `checkRestoreTarget` first, the program's own checks next, `prepareRestoreTarget` last.
 */
export function checkRestoreTarget(t: RestoreTarget): void {
  if (existsSync(t.dataDir) && !statSync(t.dataDir).isDirectory()) throw t.notADirectory();
  if (existsSync(t.dataDir)) requireOwner(t.dataDir, t.program);
  if (existsSync(t.dbFile)) requireOwner(t.dbFile, t.program);
  if (sqliteInUse(t.open, t.dbFile)) throw new TbError(TbCodes.CONFLICT, t.inUse);
}

/** The data directory a restore writes into: made, and narrowed to 0700. */
export function prepareRestoreTarget(dataDir: string): void {
  ensurePrivateDir(dataDir);
  if (process.platform !== 'win32') chmodSync(dataDir, PRIVATE_DIR_MODE);
}
