import Database from 'better-sqlite3';
import { TbCodes, TbError } from '@tillbridge/shared';

/** Whether `err` came from SQLite (a full disk, an I/O error, a busy database…). */
export function isStorageError(err: unknown): err is Error & { code: string } {
  return err instanceof Database.SqliteError;
}

/**
 * The stable error a register hears for a write SQLite refused, or undefined when there is none
 * better than TB_INTERNAL. Branches on SQLite's result code, never on its message.
 */
export function storageRefusal(err: unknown): TbError | undefined {
  if (!isStorageError(err)) return undefined;
  if (err.code === 'SQLITE_FULL') {
    return new TbError(
      TbCodes.STORAGE_FULL,
      "the agent's disk is full: nothing was recorded; send it again once space is freed",
      { cause: err },
    );
  }
  if (err.code === 'SQLITE_BUSY' || err.code.startsWith('SQLITE_BUSY_')) {
    return new TbError(TbCodes.STORAGE_BUSY, "the agent's database is busy: nothing was recorded; send it again", {
      cause: err,
    });
  }
  return undefined;
}
