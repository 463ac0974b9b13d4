import type { BackupManifest } from './backup-files.js';
import { TbCodes, TbError } from './errors.js';

/**
 * Refuses (TB_CONFIG) to restore a backup a newer `program` took: its schema is beyond `current`,
 * the newest this one knows. It is restored with the version that took it (the manifest's software).
 */
export function refuseNewerBackup(dir: string, m: BackupManifest, program: string, current: number): void {
  if (typeof m.schemaVersion === 'number' && m.schemaVersion > current) {
    throw new TbError(
      TbCodes.CONFIG,
      `${dir} was taken by a newer ${program} (${m.software}, schema ${m.schemaVersion}; ` +
        `this one knows ${current}): restore it with that version`,
    );
  }
}
