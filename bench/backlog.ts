/**
 * An offline backlog drained: the hub stops, BENCH_BACKLOG sales (default 100 000) are rung up at the store's
 * registers (acked by the agent alone), the hub comes back on the same port, and the bench measures how long the
 * agent takes to bring every sale to the hub while a register keeps asking for returns of sales the hub already
 * had (online authorization during the drain).
 *
 *   npm run bench -- backlog [--json]      # BENCH_BACKLOG, BENCH_CONNS (32 registers), BENCH_IN_FLIGHT (8 sales
 *                                          # each register has sent and not had acked), BENCH_AUTH_EVERY_MS (20),
 *                                          # BENCH_UPLOAD_BATCH (the agent's hub.uploadBatchMax; default its own)
 *
 * The backlog is made through the agent's real register path (every sale acked by the agent's own commit); many
 * registers with sales in flight let the agent's group commit share one fsync among many sales, so 100 000 are
 * rung up in a minute or two instead of the ≈ 5 minutes four registers one sale at a time took.
 *
 * Aims (issue 14): the backlog drains in ≤ 30 s while online authorizations keep p99 ≤ 50 ms.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import Database from 'better-sqlite3';
import { addStore, initHub, setStock, startAgent, startHub } from '@tillbridge/scripts/lib/cluster';
import { JsonLinesRegister } from '@tillbridge/scripts/lib/register-client';
import { waitFor } from '@tillbridge/scripts/lib/wait';
import { withCleanups } from './cleanups.js';
import { registerSale } from './sales.js';
import { machine, ms, summarize, type Summary } from './stats.js';

const BACKLOG = Number(process.env.BENCH_BACKLOG ?? 100_000);
const CONNS = Number(process.env.BENCH_CONNS ?? 32);
const IN_FLIGHT = Number(process.env.BENCH_IN_FLIGHT ?? 8);
const AUTH_EVERY_MS = Number(process.env.BENCH_AUTH_EVERY_MS ?? 20);
const UPLOAD_BATCH = process.env.BENCH_UPLOAD_BATCH ? Number(process.env.BENCH_UPLOAD_BATCH) : undefined;
const RETURNABLE = 2000;

/** Register `c` rings up its `per` sales, up to IN_FLIGHT at a time (the agent answers each connection in order). */
async function ringUp(r: JsonLinesRegister, c: number, per: number): Promise<void> {
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < per) {
      const i = next++;
      const a = await r.send<{ type: string }>(registerSale(`bb-${c}-${i}`, `BB-${c}-${i}`));
      if (a.type !== 'ack') throw new Error(`sale BB-${c}-${i} not acked: ${JSON.stringify(a)}`);
    }
  };
  await Promise.all(Array.from({ length: IN_FLIGHT }, lane));
}

interface Asked {
  auth: Summary;
  offline: number;
  offlineBeforeFirstOnline: number;
}

/**
 * Returns asked for every AUTH_EVERY_MS until stopped: latencies of those decided online, how many were not, and of
 * those how many were asked before the first online answer (the agent not yet reconnected to the hub).
 */
function askForReturns(returner: JsonLinesRegister): { stop: () => Promise<Asked> } {
  const state = { asking: true, offline: 0, offlineBeforeFirstOnline: 0, auth: [] as number[] };
  const loop = (async () => {
    for (let i = 0; state.asking; i++) {
      const t = performance.now();
      const d = await returner.send<{ mode: string }>({
        type: 'return.request',
        id: `rb-${i}`,
        receipt: `RA-${i % RETURNABLE}`,
        lines: [{ line: 1, qty: 1 }],
      });
      if (d.mode === 'online') state.auth.push(performance.now() - t);
      else {
        state.offline++;
        if (state.auth.length === 0) state.offlineBeforeFirstOnline++;
      }
      await new Promise((r) => setTimeout(r, AUTH_EVERY_MS));
    }
  })();
  return {
    stop: async () => {
      state.asking = false;
      await loop;
      return {
        auth: summarize(state.auth),
        offline: state.offline,
        offlineBeforeFirstOnline: state.offlineBeforeFirstOnline,
      };
    },
  };
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'tb-bench-backlog-'));
  const date = new Date().toISOString();
  process.stdout.write(`Tillbridge offline backlog benchmark — ${date}\n${machine()}\n\n`);
  await withCleanups(dir, async (cleanups) => {
    const hubDir = join(dir, 'hub');
    const adminToken = await initHub(hubDir);
    let hub = await startHub({ dataDir: hubDir, adminToken });
    cleanups.push(() => hub.proc.stop());
    const apiKey = await addStore(hub, 'B1');
    await setStock(hub, 'B1', 'SKU-1', 10_000_000);
    const ids = Array.from({ length: CONNS + 1 }, (_, i) => ({ id: `R${i + 1}` }));
    const agent = await startAgent({
      dir: join(dir, 'agent'),
      store: 'B1',
      apiKey,
      hubWsUrl: hub.wsUrl,
      registers: ids,
      ...(UPLOAD_BATCH === undefined ? {} : { overrides: { hub: { uploadBatchMax: UPLOAD_BATCH } } }),
    });
    cleanups.push(() => agent.proc.stop());
    const hubDb = new Database(join(hubDir, 'hub.sqlite'), { readonly: true });
    cleanups.push(() => hubDb.close());
    const salesAtHub = (prefix: string): number =>
      (hubDb.prepare(`SELECT COUNT(*) AS n FROM sales WHERE receipt LIKE ?`).get(`${prefix}%`) as { n: number }).n;

    // sales the returns will be checked against, at the hub before it stops
    const returner = await JsonLinesRegister.connect(agent.port(`R${CONNS + 1}`));
    cleanups.push(() => returner.close());
    for (let i = 0; i < RETURNABLE; i++) await returner.send(registerSale(`ra-${i}`, `RA-${i}`));
    await waitFor('returnable sales at the hub', () => salesAtHub('RA-') === RETURNABLE, 120_000);

    // the hub goes away; the registers go on selling
    const port = hub.port;
    await hub.proc.stop();
    const regs = await Promise.all(ids.slice(0, CONNS).map((r) => JsonLinesRegister.connect(agent.port(r.id))));
    cleanups.push(() => regs.forEach((r) => r.close()));
    const per = Math.ceil(BACKLOG / CONNS);
    const tSell = performance.now();
    await Promise.all(regs.map((r, c) => ringUp(r, c, per)));
    const sellMs = performance.now() - tSell;
    process.stdout.write(
      `backlog: ${per * CONNS} sales rung up offline over ${CONNS} registers (${IN_FLIGHT} in flight each) in ` +
        `${(sellMs / 1000).toFixed(1)} s (${((per * CONNS) / (sellMs / 1000)).toFixed(0)} acks/s)\n`,
    );

    // the hub comes back: drain, while a register asks for returns
    hub = await startHub({ dataDir: hubDir, adminToken, port });
    const t0 = performance.now();
    const asking = askForReturns(returner);
    await waitFor('the backlog at the hub', () => salesAtHub('BB-') === per * CONNS, 600_000, 50);
    const drainMs = performance.now() - t0;
    const { auth: a, offline, offlineBeforeFirstOnline } = await asking.stop();
    process.stdout.write(
      `${'drain, hub back → every sale at the hub'.padEnd(44)} ${(drainMs / 1000).toFixed(1)} s ` +
        `(${((per * CONNS) / (drainMs / 1000)).toFixed(0)} sales/s; aim ≤ 30 s: ` +
        `${drainMs <= 30_000 ? 'met' : 'NOT met'})\n`,
    );
    process.stdout.write(
      `${'online authorization during the drain'.padEnd(44)} ` +
        (a.n === 0 ? 'none decided online' : `p50 ${ms(a.p50)}, p99 ${ms(a.p99)}`) +
        ` (n=${a.n}, ${offline} decided offline, ${offlineBeforeFirstOnline} of them before the first online answer; ` +
        `aim p99 ≤ 50 ms: ${a.n > 0 && a.p99 <= 50 ? 'met' : 'NOT met'})\n`,
    );
    if (process.argv.includes('--json'))
      process.stdout.write(
        JSON.stringify({
          date,
          machine: machine(),
          backlog: per * CONNS,
          uploadBatchMax: UPLOAD_BATCH ?? 'default',
          sellMs,
          drainMs,
          authorization: a,
          offline,
          offlineBeforeFirstOnline,
        }) + '\n',
      );
  });
}

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${(err as Error).stack}\n`);
  process.exit(1);
});
