/**
 * `npm run bench -- migrate` (or `npm run bench:migrate`): a live-sized SQLite hub moved to
 * PostgreSQL with the real `tillbridge-hub storage migrate` (a child process), then the copy's
 * audit chain verified with `tillbridge-hub audit verify --data DIR --database URL`.
 *
 * The hub is made by `tillbridge-hub init`, then filled straight into its SQLite file (as fast as
 * SQLite takes it, not through the API): BENCH_MIGRATE_SALES sales (default 50 000) of
 * BENCH_MIGRATE_LINES lines each (default 4: 200 000 sale lines) over 20 stores, and
 * BENCH_MIGRATE_AUDIT audit entries (default 100 000), a valid hash chain; BENCH_MIGRATE_BATCH rows
 * per INSERT (default: the command's, 500). The PostgreSQL database
 * is a scratch one on TILLBRIDGE_TEST_PG_URL's server (default postgres://postgres@127.0.0.1:5432),
 * dropped at the end. Prints rows, wall time and rows/s of the copy and of the verification. With --json, the figures
 * as JSON.
 */
import { mkdtempSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { spawn } from 'node:child_process';
import Database from 'better-sqlite3';
import { entryHash, hubDbPath } from '@tillbridge/central';
import { initHub } from '@tillbridge/scripts/lib/cluster';
import { HUB_BIN } from '@tillbridge/scripts/lib/paths';
import { createTestDatabase, pgUnavailable } from '@tillbridge/scripts/lib/pg-test-db';
import { withCleanups } from './cleanups.js';

const SALES = Number(process.env.BENCH_MIGRATE_SALES ?? 50_000);
const LINES = Number(process.env.BENCH_MIGRATE_LINES ?? 4);
const AUDIT = Number(process.env.BENCH_MIGRATE_AUDIT ?? 100_000);
const STORES = 20;
/** rows per INSERT (`--batch`; the command's default 500) */
const BATCH = process.env.BENCH_MIGRATE_BATCH;

function fill(dataDir: string): void {
  const db = new Database(hubDbPath(dataDir));
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  const t0 = '2026-11-27T09:00:00.000Z';
  db.transaction(() => {
    const store = db.prepare('INSERT INTO stores (id, name, created_at) VALUES (?, ?, ?)');
    for (let s = 1; s <= STORES; s++) store.run(`B${s}`, `Store ${s}`, t0);
    const sale = db.prepare(
      `INSERT INTO sales (store, receipt, register, channel, at, currency, total, tenders, event_id, created_at) ` +
        `VALUES (?, ?, 'R1', 'store', ?, 'EUR', ?, '[{"kind":"cash","amount":4000}]', ?, ?)`,
    );
    const line = db.prepare(
      'INSERT INTO sale_lines (store, receipt, line, sku, qty, unit_price) VALUES (?, ?, ?, ?, 1000, 1000)',
    );
    for (let i = 0; i < SALES; i++) {
      const s = `B${(i % STORES) + 1}`;
      const receipt = `M-${i}`;
      sale.run(s, receipt, t0, LINES * 1000, `ev-${i}`, t0);
      for (let l = 1; l <= LINES; l++) line.run(s, receipt, l, `SKU-${(i * LINES + l) % 5000}`);
    }
    // audit entries chained on from init's
    const head = db.prepare('SELECT id, hash FROM audit ORDER BY id DESC LIMIT 1').get() as {
      id: number;
      hash: string;
    };
    const insert = db.prepare(
      'INSERT INTO audit (id, at, actor, action, store, register, outcome, resource, details, origin, prev_hash, ' +
        'hash) VALUES (@id, @at, @actor, @action, @store, @register, @outcome, @resource, @details, @origin, ' +
        '@prev_hash, @hash)',
    );
    let prev = head.hash;
    for (let i = 1; i <= AUDIT; i++) {
      const e = {
        id: head.id + i,
        at: t0,
        actor: 'agent:bench',
        action: 'sale.record',
        store: `B${(i % STORES) + 1}`,
        register: 'R1',
        outcome: 'recorded',
        resource: `receipt:M-${i}`,
        details: JSON.stringify({ total: 4000 }),
        origin: 'hub',
        prev_hash: prev,
      };
      const hash = entryHash(e);
      insert.run({ ...e, hash });
      prev = hash;
    }
  })();
  db.close();
}

/** Runs the hub's CLI as a child process; resolves with its output and wall time. */
function run(args: string[]): Promise<{ code: number; stdout: string; stderr: string; seconds: number }> {
  return new Promise((resolve, reject) => {
    const t = performance.now();
    const child = spawn(process.execPath, [HUB_BIN, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, NODE_OPTIONS: '' },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('exit', (code) => resolve({ code: code ?? 1, stdout, stderr, seconds: (performance.now() - t) / 1000 }));
  });
}

async function main(): Promise<void> {
  const why = pgUnavailable();
  if (why) {
    process.stderr.write(`bench migrate needs PostgreSQL: ${why}\n`);
    process.exit(1);
  }
  const date = new Date().toISOString();
  const machine =
    `${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ` +
    `${process.version}, ${process.platform}`;
  process.stdout.write(`Tillbridge benchmark: storage migrate (SQLite → PostgreSQL) — ${date}\n${machine}\n\n`);
  const dir = mkdtempSync(join(tmpdir(), 'tb-bench-migrate-'));
  await withCleanups(dir, async (cleanups) => {
    const hubDir = join(dir, 'hub');
    await initHub(hubDir);
    let t = performance.now();
    fill(hubDir);
    const fillSeconds = (performance.now() - t) / 1000;
    process.stdout.write(
      `filled ${hubDbPath(hubDir)}: ${SALES.toLocaleString('en-US')} sales, ` +
        `${(SALES * LINES).toLocaleString('en-US')} sale lines, ${AUDIT.toLocaleString('en-US')} audit entries ` +
        `(${fillSeconds.toFixed(1)} s)\n`,
    );
    const pg = createTestDatabase('tb_bench_migrate');
    cleanups.push(() => pg.drop());

    const m = await run([
      'storage',
      'migrate',
      '--data',
      hubDir,
      '--to',
      pg.url,
      '--json',
      ...(BATCH ? ['--batch', BATCH] : []),
    ]);
    if (m.code !== 0) throw new Error(`storage migrate failed (${m.code}): ${m.stderr}`);
    const copied = JSON.parse(m.stdout) as { rows: number; seconds: number; tables: { table: string; rows: number }[] };
    t = performance.now();
    const v = await run(['audit', 'verify', '--data', hubDir, '--database', pg.url, '--json']);
    const verifySeconds = (performance.now() - t) / 1000;
    const verdict = JSON.parse(v.stdout || '{}') as { ok?: boolean; entries?: number };
    if (v.code !== 0 || !verdict.ok)
      throw new Error(`audit verify on the copy failed (${v.code}): ${v.stdout}${v.stderr}`);

    const big = copied.tables
      .filter((x) => x.rows >= 1000)
      .map((x) => `${x.table} ${x.rows.toLocaleString('en-US')}`)
      .join(', ');
    process.stdout.write(
      `storage migrate: ${copied.rows.toLocaleString('en-US')} rows (${big}) in ${copied.seconds.toFixed(1)} s ` +
        `copying, ${m.seconds.toFixed(1)} s for the whole command — ` +
        `${Math.round(copied.rows / copied.seconds).toLocaleString('en-US')} rows/s\n`,
    );
    process.stdout.write(
      `audit verify on the copy: ${verdict.entries?.toLocaleString('en-US')} entries intact in ` +
        `${verifySeconds.toFixed(1)} s\n`,
    );
    if (process.argv.includes('--json')) {
      process.stdout.write(
        JSON.stringify(
          {
            date,
            machine,
            sales: SALES,
            saleLines: SALES * LINES,
            audit: AUDIT,
            rows: copied.rows,
            copySeconds: copied.seconds,
            commandSeconds: m.seconds,
            verifySeconds,
            tables: copied.tables,
          },
          null,
          2,
        ) + '\n',
      );
    }
  });
}

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${(err as Error).stack}\n`);
  process.exit(1);
});
