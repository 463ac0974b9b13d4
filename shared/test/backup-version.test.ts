import { describe, expect, it } from 'vitest';
import { isTbError, refuseNewerBackup, TbCodes, type BackupManifest } from '../src/index.js';

const taken = (schemaVersion: number | null): BackupManifest => ({
  format: 'tillbridge-agent-backup/1',
  software: 'tillbridge-agent/9.0.0',
  createdAt: '2026-11-30T10:00:00.000Z',
  schemaVersion,
  files: [],
});

describe('refuseNewerBackup', () => {
  it('refuses a backup whose schema is newer than this program knows, naming the version that took it', () => {
    let thrown: unknown;
    try {
      refuseNewerBackup('/backups/b1', taken(12), 'agent', 11);
    } catch (err) {
      thrown = err;
    }
    expect(isTbError(thrown, TbCodes.CONFIG)).toBe(true);
    expect((thrown as Error).message).toBe(
      '/backups/b1 was taken by a newer agent (tillbridge-agent/9.0.0, schema 12; this one knows 11): ' +
        'restore it with that version',
    );
  });

  it.each([11, 3, null])('takes a backup of schema %s when this program knows 11', (schema) => {
    expect(() => refuseNewerBackup('/backups/b1', taken(schema), 'agent', 11)).not.toThrow();
  });
});
