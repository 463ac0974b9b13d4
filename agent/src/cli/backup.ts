import type { Command, Option } from 'commander';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import {
  backupFileOf,
  clockFromEnv,
  isTbError,
  restoreSqliteBackup,
  takeSqliteBackup,
  TbCodes,
  TbError,
  type BackupManifest,
  type Clock,
} from '@tillbridge/shared';
import type { AgentConfig } from '../config.js';
import { AGENT_SCHEMA_VERSION, agentDbPath, getMeta, openAgentDbReadonly, SQLITE_DRIVER } from '../db/agent-db.js';
import { MetaSecrets } from '../db/meta-secrets.js';
import { SOFTWARE } from '../agent.js';

/**
 * `tillbridge-agent backup` and `restore` (docs/backup.md). Everything the agent keeps is in its
 * SQLite file — the outbox, receipts, its identity (agent id, incarnation) and its secrets, sealed
 * under a key derived from the config file's API key (db/meta-secrets.ts) — so a backup is that
 * file, copied online while the agent runs (SQLite's backup API: one consistent snapshot), and a
 * manifest. The config file (with the API key) is not copied: it is the installation's.
 *
 * A restored database is behind what the hub has seen (DESIGN rule 9): at its next hello the hub
 * finds its newest seq below what it applied and tells it to start a new incarnation; the outbox
 * it had then is sent again and taken by id. Nothing it had acknowledged is lost, nothing doubled.
 */

export const AGENT_BACKUP_FORMAT = 'tillbridge-agent-backup/1';

export interface AgentBackupInfo {
  store: string;
  agentId: string;
  incarnation: string | null;
  /** Events in the outbox the hub had not acknowledged when the copy was taken. */
  outbox: { depth: number; newestSeq: number };
  /** Which API key the copy holds: one the hub rotated in (its id and when), or none (the config's). */
  apiKey: { source: 'rotated'; id: string; storedAt: string } | { source: 'config' };
}

function describeCopy(file: string, config: Readonly<AgentConfig>): AgentBackupInfo {
  const db = openAgentDbReadonly(file);
  try {
    const agentId = getMeta(db, 'agent_id');
    if (!agentId) throw new TbError(TbCodes.INVALID, `${file} holds no agent id: not an agent's database`);
    const o = db.prepare(`SELECT COUNT(*) AS n, COALESCE(MAX(seq), 0) AS s FROM outbox`).get() as {
      n: number;
      s: number;
    };
    let apiKey: AgentBackupInfo['apiKey'] = { source: 'config' };
    const stored = new MetaSecrets(db, config.hub.apiKey).get('api_key');
    if (stored) {
      const k = JSON.parse(stored) as { id?: string; storedAt?: string };
      apiKey = { source: 'rotated', id: String(k.id), storedAt: String(k.storedAt) };
    }
    return {
      store: config.store,
      agentId,
      incarnation: getMeta(db, 'incarnation') ?? null,
      outbox: { depth: o.n, newestSeq: o.s },
      apiKey,
    };
  } finally {
    db.close();
  }
}

export async function backupAgent(config: Readonly<AgentConfig>, dir: string, clock: Clock): Promise<BackupManifest> {
  const db = agentDbPath(config.dataDir);
  if (!existsSync(db))
    throw new TbError(
      TbCodes.CONFIG,
      `no agent database in ${config.dataDir} (${db} does not exist): has the agent of this config (dataDir) ever run?`,
    );
  const createdAt = new Date(clock.now()).toISOString();
  return takeSqliteBackup({
    dir,
    program: 'agent',
    driver: SQLITE_DRIVER,
    database: { sqlite: db, name: 'agent.sqlite' },
    manifest: (schemaVersion) => ({
      format: AGENT_BACKUP_FORMAT,
      software: SOFTWARE,
      createdAt,
      schemaVersion,
      ...describeCopy(join(dir, 'agent.sqlite'), config),
    }),
  });
}

export interface AgentRestoreResult {
  dataDir: string;
  backupCreatedAt: string;
  restored: string;
  keptAside: string[];
  agentId: string;
  incarnation: string | null;
  outbox: { depth: number };
  apiKey: AgentBackupInfo['apiKey'];
}

export function restoreAgent(
  dir: string,
  config: Readonly<AgentConfig>,
  opts: { force?: boolean; clock: Clock },
): AgentRestoreResult {
  const dataDir = config.dataDir;
  const db = agentDbPath(dataDir);
  const { manifest, keptAside } = restoreSqliteBackup({
    dir,
    format: AGENT_BACKUP_FORMAT,
    program: 'agent',
    driver: SQLITE_DRIVER,
    newestSchema: (m) => {
      if (m.store !== config.store) {
        throw new TbError(
          TbCodes.INVALID,
          `${dir} is a backup of store ${JSON.stringify(m.store)}'s agent, but the config is store ` +
            `${JSON.stringify(config.store)}'s: restore it with that store's config`,
        );
      }
      return AGENT_SCHEMA_VERSION;
    },
    placements: (m) => {
      const file = backupFileOf(m, 'database');
      if (!file) throw new TbError(TbCodes.INVALID, `${dir}: the manifest lists no agent.sqlite`);
      return [{ file, as: 'agent.sqlite' }];
    },
    target: {
      dataDir,
      dbFile: db,
      notADirectory: () => new TbError(TbCodes.CONFIG, `dataDir ${dataDir}: expected a directory, found a file`),
      inUse:
        `the agent is running on ${dataDir} (another process has ${db} open): stop it first ` +
        '(systemctl stop tillbridge-agent); a restore never replaces a database in use',
    },
    occupied: () =>
      existsSync(db)
        ? `${dataDir} already holds an agent's database (agent.sqlite): pass --force to replace it ` +
          '(it is kept aside as agent.sqlite.before-restore-*)'
        : undefined,
    force: Boolean(opts.force),
    clock: opts.clock,
  });
  const info = describeCopy(db, config);
  return {
    dataDir,
    backupCreatedAt: manifest.createdAt,
    restored: db,
    keptAside,
    agentId: info.agentId,
    incarnation: info.incarnation,
    outbox: { depth: info.outbox.depth },
    apiKey: info.apiKey,
  };
}

function backupReport(m: BackupManifest & Partial<AgentBackupInfo>, dir: string): string {
  const [f] = m.files;
  if (!f) throw new Error(`the backup manifest in ${dir} lists no file`);
  const apiKey =
    m.apiKey?.source === 'rotated'
      ? `the one the hub rotated in (${m.apiKey.id}), sealed under the config file's key`
      : "the config file's";
  return [
    `backup written to ${dir} (taken ${m.createdAt}, schema ${String(m.schemaVersion)}):`,
    `  ${f.name}  ${f.bytes} bytes  sha256 ${f.sha256}`,
    '  manifest.json',
    `store ${String(m.store)}, agent ${String(m.agentId)}; ${m.outbox?.depth ?? 0} event(s) not yet acknowledged by ` +
      `the hub are in it`,
    `API key: ${apiKey} — the config file is not in the backup; keep it too`,
  ].join('\n');
}

function restoreReport(r: AgentRestoreResult): string {
  const lines = [`restored the backup of ${r.backupCreatedAt} into ${r.restored} (agent ${r.agentId})`];
  if (r.keptAside.length > 0) lines.push('what it replaced is kept:', ...r.keptAside.map((f) => `  ${f}`));
  lines.push(
    `${r.outbox.depth} event(s) in its outbox will be sent again; the hub takes them by id (what it already has is ` +
      `not applied twice).`,
    'At its next connection the hub finds this database behind what it applied and has the agent start a new ' +
      'incarnation (docs/backup.md#a-restored-agent).',
  );
  if (r.apiKey.source === 'rotated')
    lines.push(
      `It uses the API key the hub rotated in before the backup (${r.apiKey.id}): if the store's key was rotated ` +
        `again since and the old one has expired, put a new key in the config.`,
    );
  lines.push('Next: start the agent (systemctl start tillbridge-agent, or tillbridge-agent run --config …)');
  return lines.join('\n');
}

/**
 * Exit codes of backup and restore (docs/cli.md): 0 ok, 1 refused (agent running, data there without --force) or
 * failed, 2 bad input.
 */
function fail(err: unknown): never {
  process.stderr.write(`error: ${(err as Error).message}\n`);
  const usage = isTbError(err, TbCodes.INVALID) || isTbError(err, TbCodes.CONFIG);
  process.exit(usage ? 2 : 1);
}

/**
 * Adds `backup` and `restore` to the agent's CLI; `load` reads the --config option's file (exiting 2 when it is bad).
 */
export function registerBackupCommands(
  program: Command,
  configOpt: () => Option,
  load: (file: string | undefined) => Readonly<AgentConfig>,
): void {
  program
    .command('backup')
    .description(
      "copy the agent's database (outbox, receipts, identity, sealed secrets) into DIR with a manifest; safe while " +
        'the agent runs',
    )
    .argument('<dir>', 'a new (or empty) directory for the backup; made 0700')
    .addOption(configOpt())
    .option('--json', 'print JSON')
    .addHelpText(
      'after',
      "\nRun it as the agent's user. The config file (with the store's API key) is not copied: keep it " +
        'too.\n\nExample:\n  sudo -u tillbridge tillbridge-agent backup --config /etc/tillbridge/agent.json ' +
        '/var/backups/tillbridge-agent/$(date +%F)',
    )
    .action(async (dir: string, opts: { config?: string; json?: boolean }) => {
      const config = load(opts.config);
      try {
        const { clock } = clockFromEnv(process.env);
        const m = await backupAgent(config, dir, clock);
        process.stdout.write(opts.json ? `${JSON.stringify({ dir, ...m }, null, 2)}\n` : `${backupReport(m, dir)}\n`);
      } catch (err) {
        fail(err);
      }
    });
  program
    .command('restore')
    .description(
      "restore a backup into the config's dataDir: checksums checked, never while the agent runs, over a database " +
        'only with --force',
    )
    .argument('<dir>', 'the backup directory (written by `tillbridge-agent backup`)')
    .addOption(configOpt())
    .option('--force', 'replace the database the data directory holds (kept as agent.sqlite.before-restore-*)')
    .option('--json', 'print JSON')
    .addHelpText(
      'after',
      '\nExit code: 0 restored; 1 the agent is running, or the data directory holds a database and --force was not ' +
        "given; 2 a backup that is damaged, incomplete, of another store or not an agent's.\n\nExample:\n  systemctl " +
        'stop tillbridge-agent\n  sudo -u tillbridge tillbridge-agent restore ' +
        '/var/backups/tillbridge-agent/2026-11-30 --config /etc/tillbridge/agent.json --force\n  systemctl start ' +
        'tillbridge-agent',
    )
    .action((dir: string, opts: { config?: string; force?: boolean; json?: boolean }) => {
      const config = load(opts.config);
      try {
        const { clock } = clockFromEnv(process.env);
        const r = restoreAgent(dir, config, { force: Boolean(opts.force), clock });
        process.stdout.write(opts.json ? `${JSON.stringify(r, null, 2)}\n` : `${restoreReport(r)}\n`);
      } catch (err) {
        fail(err);
      }
    });
}
