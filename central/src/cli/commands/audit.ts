import { createWriteStream, renameSync, rmSync, writeFileSync } from 'node:fs';
import { finished } from 'node:stream/promises';
import { Option, type Command } from 'commander';
import { createLogger, TbCodes, TbError } from '@tillbridge/shared';
import { AuditLog } from '../../domain/audit-log.js';
import { iso, systemClock } from '../../domain/clock.js';
import { openHubStorage } from '../../storage/index.js';
import { AuditTrail } from '../../audit/trail.js';
import type { ExportedEntry } from '../../audit/entry.js';
import { exportAudit } from '../../audit/export-client.js';
import { isExportFormat, type ExportFormat } from '../../audit/export-format.js';
import { followAudit } from '../../audit/follow.js';
import type { ChainVerifyResult } from '../../audit/verify-stored.js';
import * as contract from '../../http/contract/audit.js';
import { verifyFiles, type FilesVerifyResult } from '../../audit/verify-export.js';
import { examplesHelp, parseDuration, table } from '../format.js';
import { Progress } from '../progress.js';
import {
  act,
  askCommand,
  databaseOf,
  databaseOpt,
  EXIT,
  print,
  printingCommand,
  readInputFile,
  type CliContext,
} from '../context.js';

type Verdict =
  { ok: true; entries: number; head: string; from?: number } | { ok: false; firstBad: number; problem: string };

function verdictLine(r: Verdict): string {
  if (!r.ok) return `AUDIT LOG BROKEN at entry ${r.firstBad}: ${r.problem}`;
  const pruned =
    r.from !== undefined && r.from > 1
      ? ` from entry ${r.from} (older ones pruned; the first links to a signed checkpoint)`
      : '';
  return `audit log intact: ${r.entries} entries${pruned}, head ${r.head}`;
}

function filesLine(r: FilesVerifyResult): string {
  const c = r.checkpoint;
  const cp = `checkpoint #${c.seq} (head entry ${c.id}, signed ${c.at}): signature valid`;
  const key = c.pinned
    ? `key ${c.fingerprint} (the trusted key)`
    : `key ${c.fingerprint}: compare it with the fingerprint you trust (\`tillbridge-hub audit ` +
      `public-key\`), or pass --fingerprint`;
  if ('exportChecked' in r) return `${cp}\n${key}`;
  if (!r.ok)
    return (
      `EXPORT REFUSED at ` +
      `entry ${r.firstBad}${r.line !== undefined && r.line > 0 ? ` (line ${r.line})` : ''}: ${r.problem}\n${cp}\n${key}`
    );
  const after = r.after > 0 ? `; entries ${c.id + 1}..${r.to} chain on from it, but no checkpoint covers them yet` : '';
  return (
    `export intact: entries ${r.from}..${r.to} (${r.entries}) recompute and link\n${cp}; it vouches ` +
    `for entries ${r.from}..${c.id}${after}\n${key}`
  );
}

function entryLine(e: ExportedEntry): string {
  const where = e.store ? `${e.store}${e.register ? `/${e.register}` : ''}` : '-';
  const from = e.origin ? `  from ${e.origin}` : '';
  return `${e.id}  ${e.at}  ${e.actor}  ${e.action}  ${where}  ${e.outcome}  ${e.resource ?? '-'}${from}`;
}

/**
 * "7d" (that long ago) or an ISO 8601 date/time, as the admin API takes it. "Ago" is from the
 * operator's now (the system's clock of the machine running the command, which has no other).
 */
function timeArg(v: string | undefined, name: string): string | undefined {
  if (v === undefined) return undefined;
  if (/^\d+(\.\d+)?(ms|s|m|h|d)$/.test(v.trim())) return iso(Date.now() - parseDuration(v));
  if (!/^\d{4}-\d{2}-\d{2}/.test(v) || Number.isNaN(Date.parse(v)))
    throw new TbError(
      TbCodes.INVALID,
      `--${name}: expected an ISO 8601 date/time or a duration ago (7d, 12h), got "${v}"`,
    );
  return v;
}

export function auditCommands(ctx: CliContext): void {
  const audit = ctx.program
    .command('audit')
    .description('the hash-chained audit log: verify, tail, export, signed checkpoints');
  auditVerifyCommand(audit, ctx);
  auditTailCommand(audit, ctx);
  auditExportCommand(audit, ctx);
  auditCheckpointsCommand(audit, ctx);
  auditCheckpointCommand(audit, ctx);
  auditPublicKeyCommand(audit, ctx);
}

function auditVerifyCommand(audit: Command, ctx: CliContext): void {
  audit
    .command('verify')
    .description(
      'check the chain; exit 0 when intact, 5 naming the first entry that does not verify. With ' +
        '--checkpoint: check an export against a signed checkpoint, with nothing but the files',
    )
    .option('--data <dir>', "read the hub's database directly instead of asking the running hub")
    .addOption(databaseOpt())
    .option('--checkpoint <file>', 'a checkpoint file (`audit checkpoint --out`): verified away from the hub')
    .option('--export <file>', 'with --checkpoint: the export to check against it (- reads stdin)')
    .option(
      '--public-key <file>',
      'with --checkpoint: accept only a checkpoint signed by this key (`audit public-key --out`)',
    )
    .option('--fingerprint <fp>', 'with --checkpoint: accept only a checkpoint signed by the key with this fingerprint')
    .option('--json', 'print JSON')
    .addHelpText(
      'after',
      examplesHelp(
        'tillbridge-hub audit verify',
        'tillbridge-hub audit verify --data /var/lib/tillbridge-hub',
        'tillbridge-hub audit verify --data /var/lib/tillbridge-hub --database ' +
          'postgres://tillbridge@db.example:5432/tillbridge',
        'tillbridge-hub audit verify --checkpoint cp-120.json --export audit.jsonl --fingerprint SHA256:Yx3…',
      ),
    )
    .action(
      act(
        async (opts: {
          data?: string;
          database?: string;
          checkpoint?: string;
          export?: string;
          publicKey?: string;
          fingerprint?: string;
          json?: boolean;
        }) => {
          if (opts.checkpoint) {
            const v: Parameters<typeof verifyFiles>[0] = { checkpoint: opts.checkpoint };
            if (opts.export) v.export = opts.export === '-' ? process.stdin : opts.export;
            if (opts.publicKey) v.publicKeyPem = readInputFile(opts.publicKey, 'the public key');
            if (opts.fingerprint) v.fingerprint = opts.fingerprint;
            const r = await verifyFiles(v);
            print(opts.json, r, () => filesLine(r));
            if (!r.ok) process.exitCode = EXIT.AUDIT_BROKEN;
            return;
          }
          if (opts.export || opts.publicKey || opts.fingerprint)
            throw new TbError(TbCodes.INVALID, '--export, --public-key and --fingerprint go with --checkpoint');
          let r: ChainVerifyResult | Verdict;
          if (opts.data) {
            // with --database: the hub's PostgreSQL database (the data directory still holds the checkpoints' signing
            // key)
            const s = openHubStorage(opts.data, { database: databaseOf(opts.database) });
            try {
              const log = createLogger({ name: 'tillbridge-hub', level: 'silent' });
              r = new AuditTrail(s, new AuditLog(s, systemClock), systemClock, { dataDir: opts.data }, log).verify();
            } finally {
              s.close();
            }
          } else {
            r = await ctx.client().request(contract.verifyAudit);
          }
          print(opts.json, r, () => verdictLine(r));
          if (!r.ok) process.exitCode = EXIT.AUDIT_BROKEN;
        },
      ),
    );
}

function auditTailCommand(audit: Command, ctx: CliContext): void {
  audit
    .command('tail')
    .description('the latest audit entries; with --follow, keeps printing new ones as they are written (Ctrl-C stops)')
    .option('-n, --lines <n>', 'how many', '20')
    .option('-f, --follow', 'keep polling the hub for new entries')
    .option('--interval <duration>', 'with --follow: how often to poll', '2s')
    .option('--json', 'print JSON (with --follow: one JSON object per line)')
    .addHelpText(
      'after',
      examplesHelp('tillbridge-hub audit tail -n 50', 'tillbridge-hub audit tail --follow --json | jq .action'),
    )
    .action(
      act(async (opts: { lines: string; follow?: boolean; interval: string; json?: boolean }) => {
        const client = ctx.client();
        const r = await client.request(contract.auditTail, { query: { limit: Number(opts.lines) || 20 } });
        if (!opts.follow) {
          print(opts.json, r, () =>
            table(
              ['ID', 'AT', 'ACTOR', 'ACTION', 'STORE', 'REGISTER', 'OUTCOME', 'RESOURCE'],
              r.map((e) => [e.id, e.at, e.actor, e.action, e.store, e.register, e.outcome, e.resource]),
            ),
          );
          return;
        }
        let intervalMs: number;
        try {
          intervalMs = Math.max(100, parseDuration(opts.interval));
        } catch (err) {
          throw new TbError(TbCodes.INVALID, `--interval: ${(err as Error).message}`);
        }
        const show = (es: ExportedEntry[]): void => {
          process.stdout.write(es.map((e) => `${opts.json ? JSON.stringify(e) : entryLine(e)}\n`).join(''));
        };
        show(r);
        const stop = new AbortController();
        const onSignal = (): void => stop.abort();
        process.once('SIGINT', onSignal);
        process.once('SIGTERM', onSignal);
        let warned = false;
        try {
          await followAudit(client, {
            after: r[r.length - 1]?.id ?? 0,
            intervalMs,
            signal: stop.signal,
            onEntries: (es) => {
              warned = false;
              show(es);
            },
            onUnreachable: (err) => {
              if (!warned) process.stderr.write(`warning: ${err.message}; still trying\n`);
              warned = true;
            },
          });
        } finally {
          process.off('SIGINT', onSignal);
          process.off('SIGTERM', onSignal);
        }
      }),
    );
}

interface ExportOpts {
  since?: string;
  until?: string;
  all?: boolean;
  store?: string;
  format?: string;
  out?: string;
  pageSize: string;
}

/** `audit export`'s options checked: the format, the page size, and the range as the admin API takes it. */
function exportArgs(opts: ExportOpts): {
  format: ExportFormat;
  pageSize: number;
  since: string | undefined;
  until: string | undefined;
} {
  const format = opts.format ?? (opts.out?.toLowerCase().endsWith('.csv') ? 'csv' : 'jsonl');
  if (!isExportFormat(format)) throw new TbError(TbCodes.INVALID, `--format: expected jsonl or csv, got "${format}"`);
  if (opts.all && opts.since) throw new TbError(TbCodes.INVALID, '--all and --since do not go together');
  const pageSize = Number(opts.pageSize);
  if (!Number.isInteger(pageSize) || pageSize < 1 || pageSize > 10_000)
    throw new TbError(TbCodes.INVALID, '--page-size: expected 1..10000');
  const since = opts.all ? '1970-01-01T00:00:00.000Z' : timeArg(opts.since, 'since');
  return { format, pageSize, since, until: timeArg(opts.until, 'until') };
}

function auditExportCommand(audit: Command, ctx: CliContext): void {
  audit
    .command('export')
    .description(
      'every field of each entry (id, prev_hash and hash included), as JSON lines or CSV, to stdout or ' +
        '--out; the last 90 days unless --since or --all',
    )
    .option('--since <time>', 'from this ISO 8601 date/time, or this long ago (7d)')
    .option('--until <time>', 'up to (not including) this date/time, or this long ago')
    .option('--all', 'every retained entry (same as a --since before the oldest)')
    .option('--store <id>', "only this store's entries (such an export has gaps: it does not verify as a chain)")
    .option('--format <format>', 'jsonl or csv (default: csv when --out ends in .csv, else jsonl)')
    .option('--out <file>', 'write here instead of stdout (written whole, then moved into place)')
    .option('--page-size <n>', 'entries per request to the hub', '2000')
    .addHelpText(
      'after',
      examplesHelp(
        'tillbridge-hub audit export --all --out audit.jsonl',
        'tillbridge-hub audit export --since 2026-11-01 --until 2026-12-01 --store S001 --format csv > nov-s001.csv',
      ),
    )
    .action(
      act(async (opts: ExportOpts) => {
        const { format, pageSize, since, until } = exportArgs(opts);
        const part = opts.out ? `${opts.out}.part` : undefined;
        if (part) rmSync(part, { force: true }); // a leftover keeps its mode: start a new file, 0600
        const out = part ? createWriteStream(part, { mode: 0o600 }) : process.stdout;
        // `audit export | head`: the reader went away; nothing more to do
        if (!part)
          process.stdout.once('error', (err: NodeJS.ErrnoException) =>
            process.exit(err.code === 'EPIPE' ? EXIT.OK : EXIT.FAILURE),
          );
        let bar: Progress | undefined;
        const x: Parameters<typeof exportAudit>[2] = {
          format,
          pageSize,
          onProgress: (done, total) => (bar ??= new Progress('audit export', total)).update(done),
        };
        if (since) x.since = since;
        if (until) x.until = until;
        if (opts.store) x.store = opts.store;
        try {
          const s = await exportAudit(ctx.client(), out, x);
          bar?.done();
          if (part && opts.out) {
            out.end();
            await finished(out);
            renameSync(part, opts.out);
            process.stdout.write(
              `exported ${s.entries} entries${s.first !== null ? ` (${s.first}..${s.last})` : ''} ` +
                `to ${opts.out} as ${format}\n`,
            );
          }
        } catch (err) {
          bar?.done();
          if (part) {
            out.destroy();
            rmSync(part, { force: true });
          }
          throw err;
        }
      }),
    );
}

function auditCheckpointsCommand(audit: Command, ctx: CliContext): void {
  askCommand(ctx, audit, 'checkpoints', {
    description: 'the signed checkpoints of the chain head, newest first',
    options: [new Option('-n, --lines <n>', 'how many').default('20')],
    examples: ['audit checkpoints --json'],
    route: contract.listCheckpoints,
    request: (opts: { lines: string }) => ({ query: { limit: Number(opts.lines) || 20 } }),
    text: (r) =>
      r.length === 0
        ? 'no checkpoints yet'
        : table(
            ['SEQ', 'HEAD ENTRY', 'AT', 'HASH', 'KEY'],
            r.map((c) => [c.seq, c.id, c.at, c.hash, c.fingerprint]),
          ),
  });
}

function auditCheckpointCommand(audit: Command, ctx: CliContext): void {
  printingCommand(audit, 'checkpoint [seq]', {
    description: 'a signed checkpoint as a file, for `audit verify --checkpoint` away from the hub',
    note: 'The file holds the checkpoint, its signature, the public key and its fingerprint.',
    options: [
      new Option('--latest', 'the newest checkpoint (the default)'),
      new Option('--now', 'sign a checkpoint of the current head first (admin; audited)'),
      new Option('--out <file>', 'write it here instead of stdout'),
    ],
    examples: [
      'audit checkpoint --latest --out cp.json',
      'audit checkpoint --now --out cp.json && tillbridge-hub audit export --all --out audit.jsonl',
    ],
  }).action(
    act(async (seq: string | undefined, opts: { latest?: boolean; now?: boolean; out?: string; json?: boolean }) => {
      if ([seq !== undefined, opts.latest, opts.now].filter(Boolean).length > 1)
        throw new TbError(TbCodes.INVALID, 'give one of SEQ, --latest or --now');
      if (seq !== undefined && !/^\d+$/.test(seq))
        throw new TbError(TbCodes.INVALID, `SEQ: expected a checkpoint number, got "${seq}"`);
      const client = ctx.client();
      const f = opts.now
        ? await client.request(contract.signCheckpoint)
        : seq === undefined
          ? await client.request(contract.latestCheckpoint)
          : await client.request(contract.showCheckpoint, { params: { seq } });
      const text = `${JSON.stringify(f, null, 2)}\n`;
      if (!opts.out) {
        process.stdout.write(text);
        return;
      }
      writeFileSync(opts.out, text);
      const c = f.checkpoint;
      print(
        opts.json,
        { file: opts.out, ...c, fingerprint: f.fingerprint },
        () => `checkpoint #${c.seq} (head entry ${c.id}, ${c.at}) written to ${opts.out}\nsigning key ${f.fingerprint}`,
      );
    }),
  );
}

function auditPublicKeyCommand(audit: Command, ctx: CliContext): void {
  printingCommand(audit, 'public-key', {
    description: "the hub's audit signing public key (PEM) and its fingerprint, to check checkpoints with",
    options: [new Option('--out <file>', 'write the PEM here')],
    examples: ['audit public-key --out tillbridge-audit.pub'],
  }).action(
    act(async (opts: { out?: string; json?: boolean }) => {
      const r = await ctx.client().request(contract.auditPublicKey);
      if (opts.out) writeFileSync(opts.out, r.publicKey);
      print(
        opts.json,
        r,
        () => `${opts.out ? `written to ${opts.out}` : r.publicKey.trimEnd()}\nfingerprint ${r.fingerprint}`,
      );
    }),
  );
}
