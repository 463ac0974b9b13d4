import { clockFromEnv } from '@tillbridge/shared';
import { backupHub, restoreHub, type HubBackupResult, type HubRestoreResult } from '../../backup.js';
import { act, topCommand, dataOpt, databaseOf, databaseOpt, EXIT, print, type CliContext } from '../context.js';

function backupReport(r: HubBackupResult): string {
  const lines = [
    `backup written to ${r.dir} (taken ${r.manifest.createdAt}, schema ${String(r.manifest.schemaVersion)}):`,
  ];
  for (const f of r.manifest.files)
    lines.push(`  ${f.name.padEnd(24)} ${String(f.bytes).padStart(12)} bytes  sha256 ${f.sha256}`);
  lines.push(`  manifest.json`);
  if (r.pgDump) {
    lines.push(
      '',
      "The hub runs on PostgreSQL: its DATABASE IS NOT IN THIS BACKUP, only the data directory's key files.",
      'Dump the database with pg_dump (docs/backup.md), e.g.:',
      '',
      r.pgDump,
    );
  }
  lines.push(
    '',
    "Keep it where the hub's disk is not: it holds hub.secret (every store's key is checked with " +
      'it). Test it: docs/backup.md#a-restore-drill',
  );
  return lines.join('\n');
}

function restoreReport(r: HubRestoreResult): string {
  const lines = [`restored the backup of ${r.backupCreatedAt} into ${r.dataDir}:`, ...r.restored.map((f) => `  ${f}`)];
  if (r.keptAside.length > 0) lines.push('what it replaced is kept:', ...r.keptAside.map((f) => `  ${f}`));
  lines.push(
    r.secretMatches
      ? 'hub.secret opens the database: yes'
      : "HUB.SECRET DOES NOT MATCH THE DATABASE: the hub will refuse to start; the backup's hub.secret " +
          'is not the one its database was created with',
  );
  const a = r.audit;
  lines.push(
    a.ok
      ? `audit log intact: ${a.entries} entries${a.from > 1 ? ` from entry ${a.from}` : ''}, head ${a.head}`
      : `AUDIT LOG BROKEN at entry ${a.firstBad}: ${a.problem}`,
  );
  if (r.secretMatches && a.ok)
    lines.push(`Next: tillbridge-hub serve --data ${r.dataDir}${r.engine === 'postgres' ? ' --database <url>' : ''}`);
  return lines.join('\n');
}

export function backupCommands(ctx: CliContext): void {
  topCommand(
    ctx,
    'backup',
    'copy the hub (database, hub.secret, audit signing key) into DIR with a manifest of checksums; ' +
      'safe while the hub serves',
  )
    .argument('<dir>', 'a new (or empty) directory for the backup; made 0700')
    .addOption(dataOpt())
    .addOption(databaseOpt())
    .option('--json', 'print JSON')
    .addHelpText(
      'after',
      `\n` +
        `Works on the data directory itself: the hub need not run, and a running hub keeps serving (the\n` +
        `SQLite database is copied online, one consistent snapshot). Run it as the hub's user.\n` +
        `On PostgreSQL only the key files are copied: dump the database with pg_dump (printed; ` +
        `docs/backup.md).\n` +
        `\n` +
        `Examples:\n` +
        `  sudo -u tillbridge tillbridge-hub backup --data /var/lib/tillbridge-hub ` +
        `/var/backups/tillbridge/$(date +%F)\n` +
        `  tillbridge-hub backup --data /var/lib/tillbridge-hub --database ` +
        `postgres://tillbridge@db.example/tillbridge /var/backups/tb-keys`,
    )
    .action(
      act(async (dir: string, opts: { data: string; database?: string; json?: boolean }) => {
        const { clock } = clockFromEnv(process.env);
        const r = await backupHub(opts.data, dir, { database: databaseOf(opts.database), clock });
        print(opts.json, { dir: r.dir, ...r.manifest, ...(r.pgDump ? { pgDump: r.pgDump } : {}) }, () =>
          backupReport(r),
        );
      }),
    );

  topCommand(
    ctx,
    'restore',
    'restore a backup into a data directory: checksums checked, never over a serving hub, ' +
      'over another hub only with --force; then the audit chain is verified',
  )
    .argument('<dir>', 'the backup directory (written by `tillbridge-hub backup`)')
    .addOption(dataOpt())
    .addOption(databaseOpt())
    .option(
      '--force',
      'replace the hub the data directory holds (it must not be serving); what it replaces is kept as ' +
        '*.before-restore-*',
    )
    .option('--json', 'print JSON')
    .addHelpText(
      'after',
      `
Exit code: 0 restored and verified; 2 a backup that is damaged, incomplete or not a hub's; 6 the data
directory holds a hub (without --force) or a hub serves from it; 5 restored, but the audit chain
does not verify or hub.secret does not open the database.
A PostgreSQL hub's backup holds its key files only: pg_restore the database first, then give --database.

Examples:
  tillbridge-hub restore /var/backups/tillbridge/2026-11-30 --data /var/lib/tillbridge-hub-restored
  tillbridge-hub restore /var/backups/tillbridge/2026-11-30 --data /var/lib/tillbridge-hub --force`,
    )
    .action(
      act((dir: string, opts: { data: string; database?: string; force?: boolean; json?: boolean }) => {
        const { clock } = clockFromEnv(process.env);
        const r = restoreHub(dir, opts.data, {
          force: Boolean(opts.force),
          database: databaseOf(opts.database),
          clock,
        });
        print(opts.json, r, () => restoreReport(r));
        if (!r.audit.ok || !r.secretMatches) process.exitCode = EXIT.AUDIT_BROKEN;
      }),
    );
}
