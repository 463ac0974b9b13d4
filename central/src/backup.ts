import { existsSync, renameSync } from 'node:fs';
import { basename, join } from 'node:path';
import {
  backupFileOf,
  copyIntoBackup,
  createLogger,
  restoreSqliteBackup,
  takeSqliteBackup,
  TbCodes,
  TbError,
  type BackupFile,
  type BackupManifest,
} from '@tillbridge/shared';
import { loadSecrets, secretCheck, secretPath } from './auth/secrets.js';
import { signingKeyPath } from './audit/signing-key.js';
import { AuditTrail } from './audit/trail.js';
import type { ChainVerifyResult } from './audit/verify-stored.js';
import { AuditLog } from './domain/audit-log.js';
import { iso, type Clock } from './domain/clock.js';
import { HUB_SOFTWARE } from './hub.js';
import {
  hubDbPath,
  openHubStorage,
  postgresSchemaVersion,
  redactUrl,
  SCHEMA_VERSIONS,
  SQLITE_DRIVER,
} from './storage/index.js';

/**
 * `tillbridge-hub backup` and `restore` (docs/backup.md). They work on the data directory itself,
 * like the local admin commands — no running hub is needed, and a running one is not disturbed:
 * the SQLite database is copied online (SQLite's backup API, one consistent snapshot; the hub
 * keeps writing in WAL mode), then hub.secret and the audit signing key. TLS keys are not in the
 * data directory (serve takes their paths) and are not part of it; an audit checkpoint lives in
 * the database (a checkpoint file is an operator's export).
 */

export const HUB_BACKUP_FORMAT = 'tillbridge-hub-backup/1';

export interface HubBackupResult {
  dir: string;
  manifest: BackupManifest;
  /** PostgreSQL: the database was not copied; how to dump it. */
  pgDump?: string;
}

/** The pg_dump recipe for a hub on PostgreSQL (printed by backup; docs/backup.md). */
export function pgDumpRecipe(database: string, dir: string): string {
  const url = redactUrl(database);
  return [
    `pg_dump --format=custom --file=${join(dir, 'hub.pgdump')} '${url}'`,
    `# restore into an empty database: createdb tillbridge && ` +
      `pg_restore --no-owner --dbname='${url}' ${join(dir, 'hub.pgdump')}`,
  ].join('\n');
}

export async function backupHub(
  dataDir: string,
  dir: string,
  opts: { database?: string | undefined; clock: Clock },
): Promise<HubBackupResult> {
  if (!existsSync(secretPath(dataDir)))
    throw new TbError(
      TbCodes.CONFIG,
      `no hub in ${dataDir}: ${secretPath(dataDir)} is missing ` +
        `(expected the --data directory of \`tillbridge-hub serve\`)`,
    );
  const db = hubDbPath(dataDir);
  if (!opts.database && !existsSync(db)) {
    throw new TbError(
      TbCodes.CONFIG,
      `no SQLite hub in ${dataDir} (${db} does not exist): a hub on PostgreSQL? give its --database`,
    );
  }
  const createdAt = iso(opts.clock.now());
  const { database } = opts;
  const manifest = await takeSqliteBackup({
    dir,
    program: 'hub',
    driver: SQLITE_DRIVER,
    database: database
      ? { schemaVersion: () => postgresSchemaVersion(database, 'tillbridge-hub backup') }
      : { sqlite: db, name: 'hub.sqlite' },
    // after the database: a key that signed a checkpoint in the copy exists by now
    alsoCopy: () => {
      const files: BackupFile[] = [copyIntoBackup(dir, 'hub.secret', secretPath(dataDir), 'secret')];
      if (existsSync(signingKeyPath(dataDir)))
        files.push(copyIntoBackup(dir, 'audit-signing-key.pem', signingKeyPath(dataDir), 'signing-key'));
      return files;
    },
    manifest: (schemaVersion) => ({
      format: HUB_BACKUP_FORMAT,
      software: HUB_SOFTWARE,
      createdAt,
      engine: database ? 'postgres' : 'sqlite',
      schemaVersion,
      ...(database
        ? { database: { url: redactUrl(database), included: false, note: 'dump it with pg_dump (docs/backup.md)' } }
        : {}),
    }),
  });
  return { dir, manifest, ...(database ? { pgDump: pgDumpRecipe(database, dir) } : {}) };
}

export interface HubRestoreResult {
  dataDir: string;
  engine: 'sqlite' | 'postgres';
  backupCreatedAt: string;
  restored: string[];
  /** What the restored files replaced, kept beside them. */
  keptAside: string[];
  /** hub.secret opens the database (its meta secret_check). */
  secretMatches: boolean;
  audit: ChainVerifyResult;
}

/** What holds a hub in a data directory (any of them: a restore over it needs --force). */
function hubFiles(dataDir: string): string[] {
  return [hubDbPath(dataDir), secretPath(dataDir), signingKeyPath(dataDir)].filter((f) => existsSync(f));
}

/**
 * Restores a backup into `dataDir`: the manifest's checksums first (a file missing or changed is
 * refused, naming it), never over a hub that serves from it, over another hub only with `force`
 * (what is replaced is kept aside), then the audit chain is verified as `audit verify` does.
 * PostgreSQL: the key files only; the database is restored with pg_restore first, and `database`
 * names it so the chain and hub.secret can be checked against it.
 */
export function restoreHub(
  dir: string,
  dataDir: string,
  opts: { force?: boolean; database?: string | undefined; clock: Clock },
): HubRestoreResult {
  const db = hubDbPath(dataDir);
  const { manifest, restored, keptAside, stamp } = restoreSqliteBackup({
    dir,
    format: HUB_BACKUP_FORMAT,
    program: 'hub',
    driver: SQLITE_DRIVER,
    newestSchema: (m) => {
      const engine = engineOf(m);
      if (engine === 'postgres' && !opts.database) {
        throw new TbError(
          TbCodes.CONFIG,
          `${dir} is a backup of a hub on PostgreSQL (its key files only): ` +
            `restore the database with pg_restore first, then give it here with --database`,
        );
      }
      if (engine === 'sqlite' && opts.database)
        throw new TbError(
          TbCodes.CONFIG,
          `${dir} is a backup of a SQLite hub: --database does not apply ` +
            `(to move it to PostgreSQL, restore it, then \`tillbridge-hub storage migrate\`)`,
        );
      return engine === 'sqlite' ? SCHEMA_VERSIONS.sqlite : SCHEMA_VERSIONS.postgres;
    },
    placements: (m) => {
      if (!backupFileOf(m, 'secret'))
        throw new TbError(
          TbCodes.INVALID,
          `${dir}: the manifest lists no hub.secret; a hub cannot be restored without it`,
        );
      if (engineOf(m) === 'sqlite' && !backupFileOf(m, 'database'))
        throw new TbError(TbCodes.INVALID, `${dir}: the manifest lists no hub.sqlite`);
      // the database first, the secret that opens it last: a restore cut short is not a hub that starts
      return [...m.files].sort((a, b) => rank(a.role) - rank(b.role)).map((file) => ({ file, as: file.name }));
    },
    target: {
      dataDir,
      dbFile: db,
      notADirectory: () => new TbError(TbCodes.INVALID, `--data ${dataDir}: expected a directory, found a file`),
      inUse:
        `a hub is serving from ${dataDir} (another process has ${db} open): stop it first; ` +
        'a restore never replaces a database in use',
    },
    occupied: () => {
      const present = hubFiles(dataDir);
      return present.length > 0
        ? `${dataDir} already holds a hub (${present.map((f) => basename(f)).join(', ')}): ` +
            `restore into a new directory, or pass --force to replace it ` +
            `(what it holds is kept aside as *.before-restore-*)`
        : undefined;
    },
    force: Boolean(opts.force),
    clock: opts.clock,
  });
  // a signing key the backup did not have (none was made yet) must not be left from the replaced hub
  if (!backupFileOf(manifest, 'signing-key') && existsSync(signingKeyPath(dataDir))) {
    keptAside.push(...placeAside(signingKeyPath(dataDir), stamp));
  }

  const storage = openHubStorage(dataDir, { database: opts.database });
  try {
    const kept = storage.db.prepare(`SELECT value FROM meta WHERE key = 'secret_check'`).get() as
      { value: string } | undefined;
    const secretMatches = kept === undefined || kept.value === secretCheck(loadSecrets(dataDir));
    const log = createLogger({ name: 'tillbridge-hub', level: 'silent' });
    const audit = new AuditTrail(storage, new AuditLog(storage, opts.clock), opts.clock, { dataDir }, log).verify();
    return {
      dataDir,
      engine: engineOf(manifest),
      backupCreatedAt: manifest.createdAt,
      restored,
      keptAside,
      secretMatches,
      audit,
    };
  } finally {
    storage.close();
  }
}

/** Which engine's hub a backup is of: a SQLite hub's holds its database, a PostgreSQL hub's its key files only. */
function engineOf(m: BackupManifest): 'sqlite' | 'postgres' {
  return m.engine === 'postgres' ? 'postgres' : 'sqlite';
}

function rank(role: string): number {
  return role === 'database' ? 0 : role === 'secret' ? 2 : 1;
}

function placeAside(file: string, stamp: string): string[] {
  const to = `${file}.before-restore-${stamp}`;
  renameSync(file, to);
  return [to];
}
