import { X509Certificate, createPrivateKey } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { createServer } from 'node:net';
import { join } from 'node:path';
import {
  checkDataDir,
  clockFromEnv,
  diskFinding,
  doctorReport,
  finishDoctor,
  parseHostPort,
  supportBundle,
  type Clock,
  type DoctorFinding,
  type DoctorLevel,
  type DoctorReport,
} from '@tillbridge/shared';
import { loadSecrets, secretCheck, secretPath } from '../../auth/secrets.js';
import { HUB_SOFTWARE } from '../../hub.js';
import { GENESIS_HASH, type AuditEntry } from '../../domain/audit-log.js';
import { ChainWalker } from '../../audit/chain-walker.js';
import {
  openStorageProbe,
  PG_SCHEMA_VERSION,
  redactUrl,
  SQLITE_SCHEMA_VERSION,
  storageLocation,
  type StorageProbe,
} from '../../storage/index.js';
import { databaseOf, databaseOpt, dataOpt, type CliContext } from '../context.js';

/**
 * `tillbridge-hub doctor`: the hub's data directory, secret, database, schema, TLS files, listen
 * address, audit chain checkpoints, disk space, webhook and feed backlogs, each a finding with what
 * to do (docs/doctor.md). It reads the database read-only and starts nothing.
 */
export interface HubDoctorOptions {
  dataDir: string;
  database?: string;
  listen: string;
  tlsCert?: string;
  tlsKey?: string;
  clock: Clock;
}

export const CERT_WARN_DAYS = 30;
const DAY = 86_400_000;
/** The hub signs an audit checkpoint at least daily while it runs: older than this is a warning. */
const CHECKPOINT_WARN_MS = 2 * DAY;
/** Webhook deliveries and feed consumers this far behind: a warning. */
const BACKLOG_WARN_MS = 3_600_000;

const errText = (err: unknown): string =>
  (err as NodeJS.ErrnoException).code ??
  String((err as Partial<Error>).message)
    .trim()
    .split('\n')[0] ??
  '';

/** `id` ok, saying `message`; or, when `warn`, a warning saying it and what to do. */
function okUnless(warn: boolean, id: string, message: string, action: string): DoctorFinding {
  return warn ? { id, level: 'warning', message, action } : { id, level: 'ok', message };
}

/** A check that could not be made: `what` cannot be read (as what it should be), the error, and what to do. */
function unreadable(
  id: string,
  level: DoctorLevel,
  what: string,
  err: unknown,
  action: string,
  as = '',
): DoctorFinding {
  return { id, level, message: `${what} cannot be read${as && ` as ${as}`}: ${errText(err)}`, action };
}

function age(ms: number): string {
  if (ms < 120_000) return `${Math.round(ms / 1000)} s`;
  if (ms < 7_200_000) return `${Math.round(ms / 60_000)} min`;
  if (ms < 3 * DAY) return `${(ms / 3_600_000).toFixed(1)} h`;
  return `${Math.round(ms / DAY)} days`;
}

export async function hubDoctor(o: HubDoctorOptions): Promise<DoctorReport> {
  const f: DoctorFinding[] = [];
  const now = (): number => o.clock.now();
  const where = storageLocation(o.dataDir, o.database);

  // the data directory
  if (!existsSync(o.dataDir)) {
    f.push({
      id: 'dataDir',
      level: 'error',
      message: `${o.dataDir} does not exist`,
      action:
        "give --data the hub's data directory (the one `tillbridge-hub init` made), or create the hub " +
        'with `tillbridge-hub init --data DIR`',
    });
    return doctorReport('tillbridge-hub', now(), f);
  }
  const perms = checkDataDir(o.dataDir);
  if (perms.length === 0)
    f.push({ id: 'dataDir.mode', level: 'ok', message: `${o.dataDir} is open to its owner only` });
  for (const p of perms)
    f.push({
      id: 'dataDir.mode',
      level: p.level,
      message: p.message,
      action: "let only the hub's user into it: run the chmod shown in the message",
    });
  f.push(diskFinding('disk.data', o.dataDir));

  // the secret
  let check: string | undefined;
  if (!existsSync(secretPath(o.dataDir))) {
    f.push({
      id: 'hub.secret',
      level: 'error',
      message: `${secretPath(o.dataDir)} is missing`,
      action: o.database
        ? 'copy hub.secret from the data directory of the hub process that ran init (every process on one ' +
          'database needs the same one)'
        : 'restore hub.secret from your backup of this data directory: without it no API key or admin ' +
          'token can be checked',
    });
  } else {
    try {
      check = secretCheck(loadSecrets(o.dataDir));
      f.push({ id: 'hub.secret', level: 'ok', message: `${secretPath(o.dataDir)} is present` });
    } catch (err) {
      f.push({
        id: 'hub.secret',
        level: 'error',
        message: `${secretPath(o.dataDir)} cannot be used: ${errText(err)}`,
        action: "restore hub.secret from a backup; check that the hub's user may read it",
      });
    }
  }

  // the database
  let db: StorageProbe | undefined;
  try {
    db = openStorageProbe(o.dataDir, o.database, 'tillbridge-hub doctor');
  } catch (err) {
    f.push({
      id: 'database.reachable',
      level: 'error',
      message: `the database ${where} cannot be opened: ${errText(err)}`,
      action: o.database
        ? 'check that PostgreSQL is running and the URL, user and password are right (psql with the same URL)'
        : "check that the hub was created here (`tillbridge-hub init`) and that the hub's user may read the file",
    });
  }
  if (db) {
    try {
      databaseFindings(db, o, f, check, now);
    } finally {
      db.close();
    }
  }

  if (o.tlsCert || o.tlsKey) f.push(...tlsFindings(o, now));
  f.push(await listenFinding(o));
  return doctorReport('tillbridge-hub', now(), f);
}

function databaseFindings(
  db: StorageProbe,
  o: HubDoctorOptions,
  f: DoctorFinding[],
  check: string | undefined,
  now: () => number,
): void {
  const where = storageLocation(o.dataDir, o.database);
  if (!reachableFinding(db, o, f, where)) return;
  schemaFinding(db, o, f);
  secretFinding(db, o, f, check, where);
  checkpointFinding(db, f, now);
  auditTailFinding(db, f);
  webhookBacklogFinding(db, f, now);
  feedLagFindings(db, f, now);
}

/** Whether the database answers (and, for SQLite, passes its quick check). */
function reachableFinding(db: StorageProbe, o: HubDoctorOptions, f: DoctorFinding[], where: string): boolean {
  try {
    if (o.database) {
      db.all('SELECT 1');
      f.push({ id: 'database.reachable', level: 'ok', message: `PostgreSQL at ${where} answers` });
    } else {
      const rows = db.all('PRAGMA quick_check');
      const bad = rows.map((r) => String(Object.values(r)[0])).filter((v) => v !== 'ok');
      if (bad.length === 0)
        f.push({ id: 'database.integrity', level: 'ok', message: `${where} passes SQLite's quick_check` });
      else
        f.push({
          id: 'database.integrity',
          level: 'error',
          message: `${where} is damaged: ${bad.slice(0, 3).join('; ')}`,
          action:
            'stop the hub and restore the database from the latest backup (docs/operations.md); keep the ' +
            'damaged file for support',
        });
    }
  } catch (err) {
    f.push({
      id: 'database.reachable',
      level: 'error',
      message: `${where} does not answer: ${errText(err)}`,
      action: 'check the database server and the disk',
    });
    return false;
  }
  return true;
}

/** The schema version against the one this hub writes. */
function schemaFinding(db: StorageProbe, o: HubDoctorOptions, f: DoctorFinding[]): void {
  try {
    const have = o.database
      ? Number(db.all('SELECT version FROM tillbridge_schema')[0]?.version ?? 0)
      : Number(Object.values(db.all('PRAGMA user_version')[0] ?? {})[0] ?? 0);
    const want = o.database ? PG_SCHEMA_VERSION : SQLITE_SCHEMA_VERSION;
    if (have === want)
      f.push({
        id: 'database.schema',
        level: 'ok',
        message: `schema version ${have}, the one this hub (${HUB_SOFTWARE}) writes`,
      });
    else if (have > want)
      f.push({
        id: 'database.schema',
        level: 'error',
        message: `the database is at schema version ${have}, newer than this hub's ${want}`,
        action:
          'this binary is older than the one that last ran on this database: install the newer ' +
          'tillbridge-hub again (never run an older one on it)',
      });
    else
      f.push({
        id: 'database.schema',
        level: 'warning',
        message: `the database is at schema version ${have}; this hub writes ${want}`,
        action: 'the next `tillbridge-hub serve` upgrades it at start: take a backup first',
      });
  } catch (err) {
    const action = 'is this a Tillbridge hub database? check --data and --database';
    f.push(unreadable('database.schema', 'error', 'the schema version', err, action));
  }
}

/** The secret belongs to this database. */
function secretFinding(
  db: StorageProbe,
  o: HubDoctorOptions,
  f: DoctorFinding[],
  check: string | undefined,
  where: string,
): void {
  try {
    const row = db.all(`SELECT value FROM meta WHERE key = 'secret_check'`)[0];
    if (check !== undefined && row) {
      if (row.value === check)
        f.push({
          id: 'hub.secret.matches',
          level: 'ok',
          message: 'hub.secret is the one the database was created with',
        });
      else
        f.push({
          id: 'hub.secret.matches',
          level: 'error',
          message: `hub.secret in ${o.dataDir} is not the one ${where} was created with: the hub refuses to start`,
          action:
            'copy hub.secret from the data directory of the process that ran init (or from the backup made ' +
            'with this database)',
        });
    }
  } catch {
    /* an older database without meta: the schema finding says so */
  }
}

/** The audit chain: its signed checkpoints. */
function checkpointFinding(db: StorageProbe, f: DoctorFinding[], now: () => number): void {
  try {
    const n = Number(db.all('SELECT COUNT(*) AS n FROM audit')[0]?.n ?? 0);
    const last = db.all('SELECT seq, entry_id, at FROM audit_checkpoints ORDER BY seq DESC LIMIT 1')[0];
    if (!last) {
      const action = 'run `tillbridge-hub audit checkpoint` (the running hub makes one daily)';
      f.push(okUnless(n > 1000, 'audit.checkpoint', `${n} audit entries, no signed checkpoint yet`, action));
    } else {
      const after = Number(db.all(`SELECT COUNT(*) AS n FROM audit WHERE id > ${Number(last.entry_id)}`)[0]?.n ?? 0);
      const ago = now() - Date.parse(String(last.at));
      const text =
        `${n} audit entries; the last signed checkpoint (#${String(last.seq)}) was made ${age(ago)} ` +
        `ago, ${after} entries since`;
      const action =
        'the running hub signs one daily: is it running? Then run `tillbridge-hub audit verify` and ' +
        '`tillbridge-hub audit checkpoint` (docs/audit.md)';
      f.push(okUnless(ago > CHECKPOINT_WARN_MS, 'audit.checkpoint', text, action));
    }
  } catch (err) {
    f.push(unreadable('audit.checkpoint', 'warning', 'the audit chain', err, 'run `tillbridge-hub audit verify`'));
  }
}

/** How many rows `sql` counts (`n`) and how long ago its oldest (`oldest`, an ISO time) was. */
function backlog(db: StorageProbe, sql: string, now: () => number): { n: number; ago: number } {
  const row = db.all(sql)[0];
  const oldest = row?.oldest;
  return { n: Number(row?.n ?? 0), ago: typeof oldest === 'string' && oldest ? now() - Date.parse(oldest) : 0 };
}

/** Webhook deliveries waiting. */
function webhookBacklogFinding(db: StorageProbe, f: DoctorFinding[], now: () => number): void {
  try {
    const { n, ago } = backlog(
      db,
      `SELECT COUNT(*) AS n, MIN(created_at) AS oldest FROM webhook_deliveries WHERE state IN ('pending', 'failed')`,
      now,
    );
    const text = n === 0 ? 'no webhook delivery waits' : `${n} webhook deliveries wait, the oldest for ${age(ago)}`;
    const action = 'an endpoint does not accept them: `tillbridge-hub webhooks list` shows which, and its last error';
    f.push(okUnless(n > 0 && ago > BACKLOG_WARN_MS, 'webhooks.backlog', text, action));
  } catch {
    /* no webhook tables: an older schema, said above */
  }
}

/** Feed consumers and the broker relay behind the feed. */
function feedLagFindings(db: StorageProbe, f: DoctorFinding[], now: () => number): void {
  try {
    for (const c of db.all('SELECT name, position FROM feed_consumers ORDER BY name')) {
      const sql = `SELECT COUNT(*) AS n, MIN(recorded_at) AS oldest FROM feed WHERE position > ${Number(c.position)}`;
      const { n, ago } = backlog(db, sql, now);
      const text =
        n === 0
          ? `feed consumer ${String(c.name)} is up to date`
          : `feed consumer ${String(c.name)} is ${n} entries behind, the oldest recorded ${age(ago)} ago`;
      const action = String(c.name).startsWith('amqp:')
        ? 'the broker relay is behind: check the broker (--amqp-url) is reachable; the hub log says why it fails'
        : 'the consumer (an ERP job) has not acknowledged for a while: is it running?';
      f.push(okUnless(n > 0 && ago > BACKLOG_WARN_MS, 'feed.lag', text, action));
    }
  } catch {
    /* no feed tables */
  }
}

/** Entries checked after the last checkpoint: enough for a doctor's run; `audit verify` walks everything. */
const AUDIT_TAIL_MAX = 20_000;

/**
 * The audit entries written since the last signed checkpoint (the part no signature covers yet):
 * each links to the one before and hashes to what it says, the first to the checkpoint's entry.
 */
function auditTailFinding(db: StorageProbe, f: DoctorFinding[]): void {
  try {
    const last = db.all('SELECT entry_id, entry_hash FROM audit_checkpoints ORDER BY seq DESC LIMIT 1')[0];
    const from = last ? Number(last.entry_id) : 0;
    const walker = new ChainWalker({ anchor: { id: from, hash: last ? String(last.entry_hash) : GENESIS_HASH } });
    const rows = db.all(
      `SELECT id, at, actor, action, store, register, outcome, resource, details, origin, prev_hash, ` +
        `hash FROM audit WHERE id > ${from} ORDER BY id LIMIT ${AUDIT_TAIL_MAX}`,
    );
    const fix =
      'keep the database as it is (take a copy), run `tillbridge-hub audit verify --data DIR` for the ' +
      'full report, and tell whoever is responsible for security (docs/audit.md)';
    for (const r of rows) {
      const bad = walker.push({ ...r, id: Number(r.id) } as unknown as AuditEntry);
      if (bad) {
        f.push({
          id: 'audit.chain',
          level: 'error',
          message: `the audit chain is broken since the last checkpoint: ${bad.problem}`,
          action: fix,
        });
        return;
      }
    }
    const more =
      rows.length === AUDIT_TAIL_MAX ? ` (the first ${AUDIT_TAIL_MAX}; \`audit verify\` checks the rest)` : '';
    f.push({
      id: 'audit.chain',
      level: 'ok',
      message:
        `the ${rows.length} audit entries since the ${last ? 'last signed checkpoint' : 'start'} link ` +
        `and hash correctly${more}`,
    });
  } catch (err) {
    f.push(
      unreadable('audit.chain', 'warning', 'the audit chain', err, 'run `tillbridge-hub audit verify --data DIR`'),
    );
  }
}

function tlsFindings(o: HubDoctorOptions, now: () => number): DoctorFinding[] {
  const out: DoctorFinding[] = [];
  if (!o.tlsCert || !o.tlsKey) {
    out.push({
      id: 'tls.files',
      level: 'error',
      message: '--tls-cert and --tls-key go together',
      action: 'give both, as `serve` is given them',
    });
    return out;
  }
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(readFileSync(o.tlsCert));
  } catch (err) {
    const action = "check the path, and that the hub's user may read it";
    out.push(unreadable('tls.cert', 'error', o.tlsCert, err, action, 'a PEM certificate'));
    return out;
  }
  try {
    const key = createPrivateKey(readFileSync(o.tlsKey));
    if (cert.checkPrivateKey(key))
      out.push({ id: 'tls.key', level: 'ok', message: `${o.tlsKey} is the key of ${o.tlsCert}` });
    else
      out.push({
        id: 'tls.key',
        level: 'error',
        message: `${o.tlsKey} is not the key of ${o.tlsCert}`,
        action: 'give the key the certificate was issued for',
      });
  } catch (err) {
    const action = "check the path, and that the hub's user may read it (0600)";
    out.push(unreadable('tls.key', 'error', o.tlsKey, err, action, 'a private key'));
  }
  const end = Date.parse(cert.validTo);
  const left = Math.floor((end - now()) / DAY);
  const until = new Date(end).toISOString();
  const subject = cert.subject.replace(/\n/g, ', ');
  if (left < 0)
    out.push({
      id: 'tls.expiry',
      level: 'error',
      message: `the certificate ${o.tlsCert} (${subject}) expired on ${until}`,
      action:
        'renew it (from your CA, or `tillbridge-hub certs dev` for a test setup) and restart the hub: no ' +
        'agent can connect until then',
    });
  else if (left < CERT_WARN_DAYS)
    out.push({
      id: 'tls.expiry',
      level: 'warning',
      message: `the certificate ${o.tlsCert} (${subject}) expires in ${left} day(s), on ${until}`,
      action: `renew it before ${until.slice(0, 10)} and restart the hub`,
    });
  else
    out.push({
      id: 'tls.expiry',
      level: 'ok',
      message: `the certificate ${o.tlsCert} is valid for ${left} more days (until ${until})`,
    });
  return out;
}

function healthz(url: string): Promise<string | undefined> {
  return new Promise((done) => {
    const onRes = (res: IncomingMessage): void => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => {
        try {
          done((JSON.parse(body) as { software?: string }).software);
        } catch {
          done(undefined);
        }
      });
    };
    const req = url.startsWith('https:')
      ? httpsRequest(`${url}/healthz`, { rejectUnauthorized: false }, onRes)
      : httpRequest(`${url}/healthz`, onRes);
    req.setTimeout(3000, () => req.destroy());
    req.on('error', () => done(undefined));
    req.end();
  });
}

async function listenFinding(o: HubDoctorOptions): Promise<DoctorFinding> {
  let host: string;
  let port: number;
  try {
    ({ host, port } = parseHostPort(o.listen));
  } catch (err) {
    return {
      id: 'listen',
      level: 'error',
      message: `--listen ${o.listen}: ${(err as Error).message}`,
      action: 'give HOST:PORT, as `serve --listen` is given it',
    };
  }
  const err = await new Promise<NodeJS.ErrnoException | undefined>((done) => {
    const s = createServer();
    s.once('error', (e: NodeJS.ErrnoException) => done(e));
    s.listen({ host, port, exclusive: true }, () => s.close(() => done(undefined)));
  });
  if (!err) return { id: 'listen', level: 'ok', message: `${o.listen} is free for \`serve\`` };
  if (err.code === 'EADDRINUSE') {
    const h = host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? '::1' : host;
    const base = `${h.includes(':') ? `[${h}]` : h}:${port}`;
    const software = (await healthz(`http://${base}`)) ?? (await healthz(`https://${base}`));
    if (software?.startsWith('tillbridge-hub'))
      return { id: 'listen', level: 'ok', message: `${o.listen} is held by the running hub (${software})` };
    return {
      id: 'listen',
      level: 'error',
      message: `${o.listen} is in use by another program`,
      action:
        'stop that program (Linux: `sudo ss -ltnp` shows which), or give `serve --listen` another port ' +
        'and tell the agents',
    };
  }
  return {
    id: 'listen',
    level: 'error',
    message: `${o.listen} cannot be listened on (${err.code ?? err.message})`,
    action:
      err.code === 'EACCES'
        ? 'ports below 1024 need privileges: use a port above 1024, or a reverse proxy'
        : 'check the address belongs to this machine',
  };
}

/** The support bundle: findings, versions, the data directory's listing (names, modes, sizes), the log's tail. */
export function hubBundle(o: HubDoctorOptions, report: DoctorReport, logFile: string | undefined): Buffer {
  const listing: string[] = [];
  try {
    for (const name of readdirSync(o.dataDir)) {
      try {
        const st = statSync(join(o.dataDir, name));
        listing.push(`${(st.mode & 0o777).toString(8).padStart(4, '0')}  ${String(st.size).padStart(12)}  ${name}`);
      } catch {
        listing.push(`?  ${name}`);
      }
    }
  } catch (err) {
    listing.push(`(cannot list: ${errText(err)})`);
  }
  const secrets = new Set<string>();
  try {
    secrets.add(readFileSync(secretPath(o.dataDir), 'utf8').trim());
  } catch {
    /* none */
  }
  const database = o.database ? redactUrl(o.database) : 'sqlite';
  const settings = { data: o.dataDir, database, listen: o.listen, tlsCert: o.tlsCert ?? null };
  const files = {
    'settings.json': `${JSON.stringify(settings, null, 2)}\n`,
    'data-dir.txt': `${o.dataDir}\n${listing.join('\n')}\n`,
  };
  const versions = { schema: { sqlite: SQLITE_SCHEMA_VERSION, postgres: PG_SCHEMA_VERSION } };
  const log = logFile ? { file: logFile, program: 'hub' } : undefined;
  return supportBundle(report, { software: HUB_SOFTWARE, versions, files, log, secrets }, o.clock.now());
}

export function doctorCommands(ctx: CliContext): void {
  ctx.program
    .command('doctor')
    .description(
      "check the hub's data directory, secret, database, schema, TLS files, listen address, audit " +
        'checkpoints, disk and backlogs; say what to do about each problem',
    )
    .addOption(dataOpt())
    .addOption(databaseOpt())
    .option(
      '--listen <host:port>',
      'the address `serve` listens on (free, or held by the running hub)',
      '127.0.0.1:7400',
    )
    .option('--tls-cert <file>', 'the certificate `serve` is given: checked, and its expiry')
    .option('--tls-key <file>', 'and its key')
    .option('--log-file <file>', 'the log file `serve --log-file` writes: its tail goes into the bundle')
    .option('--json', 'print the findings as JSON')
    .option('--bundle <file>', 'also write a support bundle (.tar.gz, secrets redacted) to FILE')
    .addHelpText(
      'after',
      '\n' +
        'Exit code: 0 when no finding is an error (warnings allowed), 1 when one is, 2 on bad usage.\n' +
        '\n' +
        'Example:\n' +
        '  sudo -u tillbridge tillbridge-hub doctor --data /var/lib/tillbridge-hub --listen 0.0.0.0:7400 ' +
        '--tls-cert /etc/tillbridge/hub.pem --tls-key /etc/tillbridge/hub-key.pem',
    )
    .action(
      async (opts: {
        data: string;
        database?: string;
        listen: string;
        tlsCert?: string;
        tlsKey?: string;
        logFile?: string;
        json?: boolean;
        bundle?: string;
      }) => {
        let o: HubDoctorOptions;
        try {
          const database = databaseOf(opts.database);
          o = { dataDir: opts.data, listen: opts.listen, clock: clockFromEnv(process.env).clock };
          if (database) o.database = database;
        } catch (err) {
          process.stderr.write(`error: ${(err as Error).message}\n`);
          process.exit(2);
        }
        if (opts.tlsCert) o.tlsCert = opts.tlsCert;
        if (opts.tlsKey) o.tlsKey = opts.tlsKey;
        const report = await hubDoctor(o);
        await finishDoctor(report, opts, () => hubBundle(o, report, opts.logFile));
      },
    );
}
