/**
 * `npm run bench -- apply` (or `node bench/dist/apply.js` after a build): the hub's group commit of
 * sale events alone, in process — no sockets, no agents: `EventApplier.applyBatches` on flushes of
 * BENCH_APPLY_FLUSH (25) agents' batches of BENCH_APPLY_BATCH (10) sales each, as the ingest queue
 * hands them over under a saturating fleet (250 events a commit), until BENCH_APPLY_EVENTS (5 000)
 * sales are committed. On a fresh SQLite hub (WAL, synchronous=FULL), or with BENCH_DATABASE
 * (postgres://… of a server where it may create a scratch database) on PostgreSQL.
 * Prints sales/s and the time per flush; run it under `node --cpu-prof` to see where the time goes.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createLogger } from '@tillbridge/shared';
import { initHub, openHub } from '@tillbridge/central';
import { createTestDatabase } from '@tillbridge/scripts/lib/pg-test-db';
import { applyFlush, envOrUndefined, saleFlush } from './sales.js';
import { ms, summarize } from './stats.js';

const EVENTS = Number(process.env.BENCH_APPLY_EVENTS ?? 5000);
const BATCH = Number(process.env.BENCH_APPLY_BATCH ?? 10);
const FLUSH = Number(process.env.BENCH_APPLY_FLUSH ?? 25);
const DATABASE = envOrUndefined('BENCH_DATABASE');
/** BENCH_APPLY_GROUPED=0: every event on its own (the path a failing group falls back to) */
const GROUPED = process.env.BENCH_APPLY_GROUPED !== '0';

function main(): void {
  const log = createLogger({ name: 'bench-apply', level: process.env.BENCH_LOG ?? 'silent' });
  const dir = mkdtempSync(join(tmpdir(), 'tb-apply-'));
  if (DATABASE) process.env.TILLBRIDGE_TEST_PG_URL = DATABASE;
  const db = DATABASE ? createTestDatabase('tb_bench_apply') : undefined;
  try {
    initHub(dir, log, undefined, db?.url);
    const hub = openHub({ dataDir: dir, database: db?.url, tokenLifetimeSec: 900, log });
    try {
      hub.applier.grouped = GROUPED;
      for (let a = 0; a < FLUSH; a++) hub.stores.create(`S${a}`, `S${a}`);
      const seqs = new Array<number>(FLUSH).fill(0);
      const flushes: number[] = [];
      let done = 0;
      const t0 = performance.now();
      while (done < EVENTS) {
        const batches = saleFlush('A', seqs, BATCH);
        const t = performance.now();
        applyFlush(hub, batches);
        flushes.push(performance.now() - t);
        done += FLUSH * BATCH;
      }
      const took = performance.now() - t0;
      const f = summarize(flushes);
      const check = hub.auditTrail.verify();
      process.stdout.write(
        `${DATABASE ? 'PostgreSQL' : 'SQLite'}${GROUPED ? '' : ' (events one by one)'}: ${done} sales in ` +
          `${flushes.length} flushes of ${FLUSH}×${BATCH}: ${(done / (took / 1000)).toFixed(0)} sales/s; ` +
          `per flush p50 ${ms(f.p50)}, p99 ${ms(f.p99)}; audit chain ${check.ok ? 'verified' : 'BROKEN'}\n`,
      );
    } finally {
      hub.close();
    }
  } finally {
    db?.drop();
    rmSync(dir, { recursive: true, force: true });
  }
}

main();
