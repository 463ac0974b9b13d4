import { existsSync } from 'node:fs';
import { monotonicClock, TbCodes, TbError } from '@tillbridge/shared';
import { loadSecrets, secretCheck, secretPath } from '../../auth/secrets.js';
import { signingKeyPath } from '../../audit/signing-key.js';
import { copySqliteToPostgres, openSqliteExclusive, type CopyResult } from '../../storage/copy.js';
import { redactUrl } from '../../storage/index.js';
import { table } from '../format.js';
import { Progress } from '../progress.js';
import { act, dataOpt, print, type CliContext } from '../context.js';

export interface MigrateOutput extends CopyResult {
  seconds: number;
  /** files of the data directory that every hub process on the new database needs */
  needs: string[];
}

function humanReport(r: MigrateOutput, dataDir: string): string {
  const rows = r.tables.map((t) => [t.table, t.rows.toLocaleString('en-US')]);
  rows.push(['total', r.rows.toLocaleString('en-US')]);
  const seq = r.sequences.map((s) => `${s.table}.${s.column} next ${s.next}`).join(', ');
  return [
    `copied ${r.from} (schema ${r.schemaVersion.sqlite}) into ${r.to} ` +
      `(schema ${r.schemaVersion.postgres}), in one transaction, in ${r.seconds.toFixed(1)} s:`,
    '',
    table(['TABLE', 'ROWS'], rows),
    '',
    `identity sequences set past the copied ids: ${seq || 'none'}`,
    '',
    `Every hub process on this database needs ${r.needs.join(' and ')}: hub.secret opens the sealed ` +
      `columns that were copied as they are (keys waiting for delivery, webhook secrets), signs access ` +
      `tokens, and the database refuses any other (meta secret_check). ` +
      `Copy ${r.needs.length > 1 ? 'them' : 'it'} (mode 0600) into each process's --data directory.`,
    `Next: tillbridge-hub serve --data ${dataDir} --database ${r.to}`,
    `      tillbridge-hub audit verify --data ${dataDir} --database ${r.to}`,
    `Do not serve ${r.from} again: keep it as the backup of the hub as it was before the move.`,
  ].join('\n');
}

/** `storage migrate`'s options checked (the URL, the batch, the secret beside the data): the rows per INSERT. */
function migrateArgs(opts: { data: string; to: string; batch: string }): number {
  if (!/^postgres(ql)?:\/\//i.test(opts.to))
    throw new TbError(
      TbCodes.CONFIG,
      `--to: expected a postgres:// or postgresql:// URL, got "${opts.to.replace(/:[^:@/]*@/, ':***@')}"`,
    );
  const batchRows = Number(opts.batch);
  if (!Number.isInteger(batchRows) || batchRows < 1)
    throw new TbError(TbCodes.INVALID, `--batch: expected a whole number of rows, at least 1, got "${opts.batch}"`);
  if (!existsSync(secretPath(opts.data))) {
    throw new TbError(
      TbCodes.CONFIG,
      `${secretPath(opts.data)} is missing: the copied hub's sealed columns and credentials can only ` +
        `be used with the hub.secret it was created with`,
    );
  }
  return batchRows;
}

export function storageCommands(ctx: CliContext): void {
  const storage = ctx.program.command('storage').description("the hub's database: move it from SQLite to PostgreSQL");
  storage
    .command('migrate')
    .description(
      "copy the data directory's SQLite hub into an empty PostgreSQL database, every table row for " +
        'row, in one transaction (stop the hub first)',
    )
    .addOption(dataOpt())
    .requiredOption('--to <url>', 'the empty PostgreSQL database: postgres://user@host:5432/db')
    .option('--batch <rows>', 'rows per INSERT', '500')
    .option('--json', 'print JSON')
    .addHelpText(
      'after',
      `
Stop the hub serving from --data first: the copy refuses while another process has hub.sqlite open,
and holds it locked while it runs. The database must be empty (a database that holds a hub, or any
table, is refused). It is written in one transaction: a copy that fails leaves it empty.

Every hub process on the database needs the data directory's hub.secret (copy it).

Example:
  tillbridge-hub storage migrate --data /var/lib/tillbridge-hub --to postgres://tillbridge@db.example:5432/tillbridge`,
    )
    .action(
      act((opts: { data: string; to: string; batch: string; json?: boolean }) => {
        const batchRows = migrateArgs(opts);
        const secrets = loadSecrets(opts.data);
        const source = openSqliteExclusive(opts.data);
        const progress = new Progress('copying', undefined, process.stderr, (n) => n.toLocaleString('en-US'));
        let result: CopyResult;
        const started = monotonicClock.now();
        try {
          const kept = source.db.prepare(`SELECT value FROM meta WHERE key = 'secret_check'`).get() as
            { value: string } | undefined;
          if (kept && kept.value !== secretCheck(secrets)) {
            throw new TbError(
              TbCodes.CONFIG,
              `${secretPath(opts.data)} is not the secret ${source.location} was created with: nothing copied`,
            );
          }
          result = copySqliteToPostgres(source, opts.to, {
            batchRows,
            onProgress: (p) =>
              progress.update(
                p.copiedAll,
                `${p.table} ${p.copied.toLocaleString('en-US')}/${p.total.toLocaleString('en-US')} ` +
                  `of ${p.totalAll.toLocaleString('en-US')} rows`,
              ),
          });
        } finally {
          progress.done();
          source.close();
        }
        const needs = [secretPath(opts.data)];
        if (existsSync(signingKeyPath(opts.data))) needs.push(signingKeyPath(opts.data));
        const out: MigrateOutput = {
          ...result,
          to: redactUrl(opts.to),
          seconds: (monotonicClock.now() - started) / 1000,
          needs,
        };
        print(opts.json, out, () => humanReport(out, opts.data));
      }),
    );
}
