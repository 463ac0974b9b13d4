import { chmodSync, closeSync, existsSync, mkdirSync, openSync, renameSync, rmSync, writeFileSync } from 'node:fs';

/**
 * Files that hold data owed to someone, or secrets, are the owner's alone (0600) whatever the
 * directory they are in or the process's umask; the directories we create are 0700.
 */
export const PRIVATE_FILE_MODE = 0o600;
export const PRIVATE_DIR_MODE = 0o700;

/** Creates `dir` (and its parents) 0700 when missing; an existing directory is left as it is (see `checkDataDir`). */
export function ensurePrivateDir(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: PRIVATE_DIR_MODE });
}

/** Narrows an existing file to 0600; a file someone else owns is left to `checkDataDir` to report. */
export function narrowToPrivate(file: string): void {
  try {
    chmodSync(file, PRIVATE_FILE_MODE);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'ENOENT' && code !== 'EPERM') throw err;
  }
}

/** The files SQLite keeps beside a database. */
export function sqliteCompanions(dbFile: string): string[] {
  return [dbFile, `${dbFile}-wal`, `${dbFile}-shm`, `${dbFile}-journal`];
}

/**
 * Before SQLite opens `dbFile`: the database exists at 0600 (when `create`), and it and any
 * -wal, -shm or -journal left from before are narrowed to 0600. SQLite gives the -wal, -shm and
 * -journal files it creates the database file's mode, so all of them stay 0600.
 */
export function preparePrivateSqlite(dbFile: string, create: boolean): void {
  if (create && !existsSync(dbFile)) closeSync(openSync(dbFile, 'a', PRIVATE_FILE_MODE));
  for (const f of sqliteCompanions(dbFile)) narrowToPrivate(f);
}

/**
 * Writes `file` whole (a temporary file at 0600, then renamed over it): readers see the old or the new text, never
 * others' eyes.
 */
export function writePrivateFile(file: string, data: string | Buffer): void {
  const tmp = `${file}.tmp-${process.pid}`;
  try {
    rmSync(tmp, { force: true });
    writeFileSync(tmp, data, { mode: PRIVATE_FILE_MODE, flag: 'wx' });
    chmodSync(tmp, PRIVATE_FILE_MODE);
    renameSync(tmp, file);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
}
