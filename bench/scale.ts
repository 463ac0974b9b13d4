/**
 * `npm run bench:scale` (or `npm run bench -- scale`): a fleet-scale load test of the hub. K real
 * hub processes (`tillbridge-hub serve` on 127.0.0.1), N simulated stores (bench/sim-agent.ts: the
 * real token endpoint, WebSocket and wire protocol) spread over them and held in a few processes
 * of their own (bench/fleet-worker.ts). Measures, each beside its floor or aim:
 *   - provisioning: N stores created through the admin API (POST /v1/admin/stores, the only path
 *     the hub has: one synced commit per store);
 *   - connections held per hub process and the hub's memory per idle connection (its RSS before
 *     and after every agent connected, over the connections): aim ≤ 20 KB;
 *   - a reconnect storm: every hub process killed (SIGKILL) and started again on its port; every
 *     agent reconnects with the agent's full-jitter backoff; the time until all are back and
 *     synced (welcome + inventory, register report, heartbeat and digest handled): aim < 30 s;
 *   - ingest: sales/s from agents to hub commit (an ack means committed, synchronous=FULL), one
 *     batch in flight per sending agent, beside the backend's batch-insert floor measured in the
 *     same run (the same number of sale rows inserted directly, one durable transaction per batch
 *     of the same size): aim ≥ 50 %;
 *   - online return authorization p50/p99 (agent → hub → agent) while the ingest runs: aim p99 < 500 ms.
 *
 * Environment: BENCH_STORES (10000), BENCH_REGISTERS per store (2), BENCH_HUBS (1 on SQLite — one
 * SQLite file takes one process; 2 with BENCH_DATABASE), BENCH_DATABASE (postgres://…: the hub's
 * `--database`; a scratch database is created on that server and dropped), BENCH_DRIVERS (agent
 * processes: 1 up to 500 stores, else 2), BENCH_CONCURRENCY (connections opening at once per agent
 * process, 200), BENCH_HEARTBEAT_MS (15000, the agent's default), BENCH_SENDERS (sending agents,
 * 100), BENCH_BATCH (sales per events frame, 10), BENCH_INGEST_SECONDS (20), BENCH_AUTHZ_RATE
 * (return requests per second, 20), BENCH_RETURNERS (agents making them, 100), BENCH_STORM (all|one).
 * With --json, the figures as JSON too.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync } from 'node:fs';
import { availableParallelism, cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { initHub, startHub, type HubHandle } from '@tillbridge/scripts/lib/cluster';
import { HUB_BIN } from '@tillbridge/scripts/lib/paths';
import { runCommand } from '@tillbridge/scripts/lib/process';
import { withCleanups, type Cleanups } from './cleanups.js';
import type { IngestReport, WorkerAgent, WorkerCommand } from './fleet-worker.js';
import { pool } from './pool.js';
import { envOrUndefined } from './sales.js';
import { cpuMsOf, ms, pidOf, summarize } from './stats.js';
import { FLOOR_DDL, floorRow, sqliteFloor } from './floor.js';

const env = (name: string, dflt: number): number => {
  const v = process.env[name];
  if (v === undefined || v === '') return dflt;
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0) throw new Error(`${name}: expected a number, got "${v}"`);
  return n;
};

const DATABASE = envOrUndefined('BENCH_DATABASE');
const STORES = env('BENCH_STORES', 10_000);
const REGISTERS = env('BENCH_REGISTERS', 2);
const HUBS = env('BENCH_HUBS', DATABASE ? 2 : 1);
const DRIVERS = env('BENCH_DRIVERS', STORES <= 500 ? 1 : 2);
const CONCURRENCY = env('BENCH_CONCURRENCY', 200);
const HEARTBEAT_MS = env('BENCH_HEARTBEAT_MS', 15_000);
const SENDERS = env('BENCH_SENDERS', 100);
const BATCH = env('BENCH_BATCH', 10);
const INGEST_SECONDS = env('BENCH_INGEST_SECONDS', 20);
const AUTHZ_RATE = env('BENCH_AUTHZ_RATE', 20);
const RETURNERS = env('BENCH_RETURNERS', 100);
const STORM = process.env.BENCH_STORM ?? 'all';
const PROVISION_CONCURRENCY = env('BENCH_PROVISION_CONCURRENCY', 16);
const STORM_TIMEOUT_MS = env('BENCH_STORM_TIMEOUT_S', 180) * 1000;

const KB = 1024;
const MB = 1024 * 1024;

/** A process's resident set (VmRSS), bytes; Linux. */
function rssOf(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * KB : NaN;
}

function openFilesLimit(): string {
  const m = /^Max open files\s+(\S+)\s+(\S+)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
  return m ? `${m[1]} (hard ${m[2]})` : 'unknown';
}

/** The error a worker answered: its stack as text, or anything else as JSON. */
const errorText = (error: unknown): string => (typeof error === 'string' ? error : JSON.stringify(error));
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const pct = (v: number): string => `${(100 * v).toFixed(0)} %`;
const secs = (v: number): string => `${(v / 1000).toFixed(1)} s`;
const verdict = (ok: boolean): string => (ok ? 'meets the aim' : 'MISSES the aim');

/** The i-th of a list the run built with one entry per hub, worker or store; throws if it is not there. */
function nth<T>(list: readonly T[], i: number, what: string): T {
  const item = list[i];
  if (item === undefined) throw new Error(`no ${what} ${i} (of ${list.length})`);
  return item;
}

/** One agent process: commands over IPC, answered in order per op. */
class FleetWorker {
  private waiters = new Map<string, ((m: Record<string, unknown>) => void)[]>();
  constructor(readonly proc: ChildProcess) {
    proc.on('message', (m: Record<string, unknown>) => {
      const w = this.waiters.get(m.op as string)?.shift();
      w?.(m);
    });
  }

  static start(): FleetWorker {
    const file = fileURLToPath(new URL('./fleet-worker.js', import.meta.url));
    return new FleetWorker(
      fork(file, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], execArgv: ['--max-old-space-size=4096'] }),
    );
  }

  ask<T = Record<string, unknown>>(c: WorkerCommand): Promise<T> {
    return new Promise((resolve, reject) => {
      const list = this.waiters.get(c.op) ?? [];
      list.push((m) =>
        m.error ? reject(new Error(`agent process, ${c.op}: ${errorText(m.error)}`)) : resolve(m as T),
      );
      this.waiters.set(c.op, list);
      this.proc.send(c);
    });
  }

  async stop(): Promise<void> {
    if (this.proc.exitCode !== null || this.proc.signalCode !== null) return;
    const exited = new Promise((r) => this.proc.once('exit', r));
    this.proc.send({ op: 'stop' });
    const t = setTimeout(() => this.proc.kill('SIGKILL'), 3000);
    await exited;
    clearTimeout(t);
  }
}

// ---------- the backend: SQLite, or PostgreSQL through the hub's --database ----------

/** `pg`, where it is installed (it comes with the hub's PostgreSQL support). */
async function loadPg(): Promise<{ Client: new (o: { connectionString: string }) => PgClient } | undefined> {
  try {
    const name = 'pg';
    const m = (await import(name)) as { default?: unknown; Client?: unknown };
    return (m.default ?? m) as { Client: new (o: { connectionString: string }) => PgClient };
  } catch {
    return undefined;
  }
}
interface PgClient {
  connect(): Promise<void>;
  query(text: string, values?: unknown[]): Promise<{ rows: Record<string, unknown>[] }>;
  end(): Promise<void>;
}

/** A scratch database on BENCH_DATABASE's server (created here, dropped at the end). */
async function scratchDatabase(
  pg: NonNullable<Awaited<ReturnType<typeof loadPg>>>,
  base: string,
  name: string,
): Promise<{ url: string; drop: () => Promise<void> }> {
  const admin = new pg.Client({ connectionString: base });
  await admin.connect();
  await admin.query(`DROP DATABASE IF EXISTS ${name}`);
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const u = new URL(base);
  u.pathname = `/${name}`;
  return {
    url: u.toString(),
    drop: async () => {
      const c = new pg.Client({ connectionString: base });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await c.end();
    },
  };
}

// ---------- the floor: the same sale rows inserted directly, one durable transaction per batch ----------

async function postgresFloor(
  pg: NonNullable<Awaited<ReturnType<typeof loadPg>>>,
  base: string,
  rows: number,
  batch: number,
): Promise<{ ms: number; perSecond: number }> {
  const scratch = await scratchDatabase(pg, base, `tb_bench_floor_${process.pid}`);
  const c = new pg.Client({ connectionString: scratch.url });
  await c.connect();
  try {
    for (const ddl of FLOOR_DDL) await c.query(ddl);
    const t = performance.now();
    for (let i = 0; i < rows; i += batch) {
      const n = Math.min(rows, i + batch) - i;
      const values: unknown[] = [];
      const lineValues: unknown[] = [];
      const tuples: string[] = [];
      const lineTuples: string[] = [];
      for (let k = 0; k < n; k++) {
        const r = floorRow(i + k);
        tuples.push(`(${r.map((_, j) => `$${values.length + j + 1}`).join(', ')})`);
        values.push(...r);
        lineTuples.push(`($${lineValues.length + 1}, $${lineValues.length + 2}, 1, 'SKU-1', 1000, 1000)`);
        lineValues.push(r[0], r[1]);
      }
      await c.query('BEGIN');
      await c.query(`INSERT INTO sales VALUES ${tuples.join(', ')}`, values);
      await c.query(`INSERT INTO sale_lines VALUES ${lineTuples.join(', ')}`, lineValues);
      await c.query('COMMIT');
    }
    const took = performance.now() - t;
    return { ms: took, perSecond: rows / (took / 1000) };
  } finally {
    await c.end();
    await scratch.drop();
  }
}

// ---------- the run ----------

type Pg = NonNullable<Awaited<ReturnType<typeof loadPg>>>;
type Backend =
  { kind: 'sqlite'; url?: undefined; pg?: undefined } | { kind: 'postgres'; url: string; pg: Pg; serverUrl: string };

/** The hub processes and the agent processes of a run, and what the phases report into. */
interface Fleet {
  dir: string;
  backend: Backend;
  hubs: HubHandle[];
  /** starts (or restarts) hub process k, on `port` if given */
  start: (k: number, port?: number) => Promise<HubHandle>;
  dataDir: (k: number) => string;
  workers: FleetWorker[];
  /** the stores, store i held by hub i % K and agent process i % W */
  ids: string[];
  K: number;
  W: number;
  out: Record<string, unknown>;
}

/** On PostgreSQL, why the run cannot measure (this hub or `pg` missing), printed; SQLite needs one hub process. */
async function postgresMissing(pg: Pg | undefined): Promise<string | undefined> {
  if (!DATABASE) {
    if (HUBS > 1)
      throw new Error(
        `BENCH_HUBS=${HUBS}: several hub processes cannot share one SQLite file; give BENCH_DATABASE=postgres://… ` +
          `for more than one`,
      );
    return undefined;
  }
  const help = await runCommand(process.execPath, [HUB_BIN, 'serve', '--help']);
  const missing = !help.stdout.includes('--database')
    ? 'this hub has no --database option (tillbridge-hub serve --help)'
    : !pg
      ? 'the `pg` package is not installed'
      : undefined;
  if (missing)
    process.stdout.write(
      `\nPostgreSQL: UNAVAILABLE — ${missing}. Nothing was measured; run without BENCH_DATABASE for SQLite.\n`,
    );
  return missing;
}

/** The backend: SQLite, or a scratch database on BENCH_DATABASE's server (dropped by a cleanup). */
async function openBackend(pg: Pg | undefined, cleanups: Cleanups): Promise<Backend> {
  if (!DATABASE || !pg) return { kind: 'sqlite' };
  const scratch = await scratchDatabase(pg, DATABASE, `tb_bench_scale_${process.pid}`);
  cleanups.push(() => scratch.drop());
  return { kind: 'postgres', url: scratch.url, pg, serverUrl: DATABASE };
}

/** Initializes the hub's data (one directory per process, sharing the database) and starts K hub processes. */
async function startHubs(dir: string, backend: Backend, K: number, cleanups: Cleanups) {
  const dbArgs = backend.url ? ['--database', backend.url] : [];
  const dataDir = (k: number): string => join(dir, `hub${k}`);
  let adminToken: string;
  if (backend.kind === 'sqlite') adminToken = await initHub(dataDir(0));
  else {
    const r = await runCommand(process.execPath, [HUB_BIN, 'init', '--data', dataDir(0), ...dbArgs, '--json']);
    if (r.code !== 0) throw new Error(`hub init failed: ${r.stderr}`);
    adminToken = (JSON.parse(r.stdout) as { adminToken: string }).adminToken;
    // the other processes share the database and the hub's secrets (token and credential keys)
    for (let k = 1; k < K; k++) cpSync(dataDir(0), dataDir(k), { recursive: true });
  }
  const hubs: HubHandle[] = [];
  cleanups.push(() => Promise.all(hubs.map((h) => h.proc.stop(30_000))));
  const start = async (k: number, port?: number): Promise<HubHandle> => {
    const h = await startHub({
      dataDir: dataDir(k),
      adminToken,
      extraArgs: dbArgs,
      ...(port !== undefined ? { port } : {}),
    });
    hubs[k] = h;
    return h;
  };
  for (let k = 0; k < K; k++) await start(k);
  return { hubs, start, dataDir };
}

/** Creates the stores through the admin API; their API keys, in the order of `ids`. */
async function provision(hubs: HubHandle[], ids: string[], out: Record<string, unknown>): Promise<string[]> {
  const keys: string[] = new Array<string>(STORES);
  const t = performance.now();
  await pool(ids, PROVISION_CONCURRENCY, async (id, i) => {
    const hub = nth(hubs, i % hubs.length, 'hub');
    const r = await hub.admin.post<{ apiKey: string }>('/v1/admin/stores', { id, name: id });
    keys[i] = r.apiKey;
  });
  const provMs = performance.now() - t;
  out.provisioning = {
    stores: STORES,
    ms: provMs,
    perSecond: STORES / (provMs / 1000),
    concurrency: PROVISION_CONCURRENCY,
  };
  process.stdout.write(
    `provisioning: ${STORES} stores via POST /v1/admin/stores (${PROVISION_CONCURRENCY} at once) in ${secs(provMs)} ` +
      `— ${(STORES / (provMs / 1000)).toFixed(0)} stores/s (one synced commit each; the hub has no bulk path)\n`,
  );
  return keys;
}

/** W agent processes, store i's agent in process i % W, connecting to hub i % K. */
async function startWorkers(
  hubs: HubHandle[],
  ids: string[],
  keys: string[],
  W: number,
  cleanups: Cleanups,
): Promise<FleetWorker[]> {
  const workers = Array.from({ length: W }, () => FleetWorker.start());
  cleanups.push(() => Promise.all(workers.map((w) => w.stop())));
  const slices: WorkerAgent[][] = workers.map(() => []);
  ids.forEach((store, i) => {
    const h = nth(hubs, i % hubs.length, 'hub');
    nth(slices, i % W, 'agent process').push({ store, apiKey: nth(keys, i, 'API key'), url: h.url, wsUrl: h.wsUrl });
  });
  await Promise.all(
    workers.map((w, j) =>
      w.ask({ op: 'setup', agents: nth(slices, j, 'slice'), registers: REGISTERS, localAddress: `127.0.0.${2 + j}` }),
    ),
  );
  return workers;
}

interface CpuUse {
  hubs: number[];
  agents: number;
}

/** The CPU the hub processes and the agent processes use from now over a phase, in cores (1 = one core busy). */
function cpuMeter(fleet: Fleet): () => CpuUse {
  const h0 = fleet.hubs.map((h) => cpuMsOf(pidOf(h.proc.proc)));
  const w0 = fleet.workers.map((w) => cpuMsOf(pidOf(w.proc)));
  const t0 = performance.now();
  return () => {
    const wall = performance.now() - t0;
    return {
      hubs: fleet.hubs.map((h, k) => (cpuMsOf(pidOf(h.proc.proc)) - (h0[k] ?? 0)) / wall),
      agents: fleet.workers.reduce((a, w, j) => a + (cpuMsOf(pidOf(w.proc)) - nth(w0, j, 'CPU start')) / wall, 0),
    };
  };
}

const cpuLine = (K: number, c: CpuUse): string =>
  `CPU: hub ${c.hubs.map((v) => v.toFixed(2)).join(' + ')} core${K > 1 ? 's' : ''}, the simulated agents ` +
  `${c.agents.toFixed(2)} (of ${availableParallelism()})`;

/** Every agent connects; the hubs' memory per connection. The number of agents connected. */
async function connections(fleet: Fleet): Promise<number> {
  const { hubs, workers, ids, K, out } = fleet;
  await sleep(2000);
  const rssBefore = hubs.map((h) => rssOf(pidOf(h.proc.proc)));
  const cpu = cpuMeter(fleet);
  const t = performance.now();
  const connected = await Promise.all(
    workers.map((w) =>
      w.ask<{ ms: number; connected: number; failed: number; errors: string[] }>({
        op: 'connect',
        concurrency: CONCURRENCY,
      }),
    ),
  );
  const connectMs = performance.now() - t;
  const connectCpu = cpu();
  const held = connected.reduce((s, c) => s + c.connected, 0);
  const failed = connected.reduce((s, c) => s + c.failed, 0);
  if (failed > 0)
    process.stdout.write(
      `  ${failed} first connections failed, e.g. ${connected
        .flatMap((c) => c.errors)
        .slice(0, 3)
        .join('; ')}\n`,
    );
  await Promise.all(workers.map((w) => w.ask({ op: 'heartbeats', everyMs: HEARTBEAT_MS })));
  await Promise.all(workers.map((w) => w.ask({ op: 'keep' })));
  await sleep(5000); // settled; a round of heartbeats under way
  const rssAfter = hubs.map((h) => rssOf(pidOf(h.proc.proc)));
  const perHub = hubs.map((_, k) => ids.filter((_, i) => i % K === k).length);
  const perConn = hubs.map((_, k) => (nth(rssAfter, k, 'RSS') - nth(rssBefore, k, 'RSS')) / nth(perHub, k, 'hub'));
  const workerRss = await Promise.all(workers.map((w) => w.ask<{ rss: number; agents: number }>({ op: 'rss' })));
  out.connections = {
    cpu: connectCpu,
    held,
    failed,
    connectMs,
    perSecond: held / (connectMs / 1000),
    perHub,
    rssBefore,
    rssAfter,
    bytesPerConnection: perConn,
    agentProcessRss: workerRss.map((w) => w.rss),
  };
  process.stdout.write(
    `connections: ${held} of ${STORES} agents connected and synced in ${secs(connectMs)} ` +
      `(${(held / (connectMs / 1000)).toFixed(0)}/s, ${CONCURRENCY} opening at once per agent process); ` +
      `${cpuLine(K, connectCpu)}\n`,
  );
  hubs.forEach((_, k) => {
    const [before, after, conn] = [nth(rssBefore, k, 'RSS'), nth(rssAfter, k, 'RSS'), nth(perConn, k, 'hub')];
    process.stdout.write(
      `  hub ${k}: ${nth(perHub, k, 'hub')} agents held; RSS ${(before / MB).toFixed(1)} MB idle → ` +
        `${(after / MB).toFixed(1)} MB connected: ${(conn / KB).toFixed(1)} KB per connection (aim ≤ 20 KB: ` +
        `${verdict(conn <= 20 * KB)})\n`,
    );
  });
  process.stdout.write(
    `  the simulated agents: ${workerRss.map((w) => `${(w.rss / MB).toFixed(0)} MB for ${w.agents}`).join(', ')} ` +
      `(their processes, beside the hub)\n`,
  );
  return held;
}

type WorkerStatus = { synced: number; failures: number; syncedAt: number[]; lostAt: number[] }[];

/** Polls the agent processes until every victim's agent is back and `held` agents are synced, or the time is up. */
async function untilBack(fleet: Fleet, killedAt: number, victimAgents: number, held: number): Promise<WorkerStatus> {
  const deadline = performance.now() + STORM_TIMEOUT_MS;
  for (;;) {
    const status = await Promise.all(
      fleet.workers.map((w) =>
        w.ask<{ synced: number; failures: number; syncedAt: number[]; lostAt: number[] }>({ op: 'status' }),
      ),
    );
    const back = status.reduce((s, x) => s + x.syncedAt.filter((v) => v > killedAt).length, 0);
    const synced = status.reduce((s, x) => s + x.synced, 0);
    if ((back >= victimAgents && synced >= held) || performance.now() > deadline) return status;
    await sleep(250);
  }
}

/** Kills the hub processes (all, or one) and starts them again; how long until the agents are back. */
async function reconnectStorm(fleet: Fleet, held: number): Promise<void> {
  const { hubs, workers, ids, K, out } = fleet;
  const victims = STORM === 'one' ? [0] : hubs.map((_, k) => k);
  const victimAgents = ids.filter((_, i) => victims.includes(i % K)).length;
  const killedAt = performance.timeOrigin + performance.now();
  const agentCpu0 = workers.map((w) => cpuMsOf(pidOf(w.proc)));
  for (const k of victims) await nth(hubs, k, 'hub').proc.kill();
  const t = performance.now();
  for (const k of victims) await fleet.start(k, nth(hubs, k, 'hub').port);
  const restartMs = performance.now() - t;
  const cpu = cpuMeter(fleet); // the restarted hub's from here; the agents' counted again below from the kill
  const listeningAt = performance.timeOrigin + performance.now();
  const status = await untilBack(fleet, killedAt, victimAgents, held);
  const stormCpu = cpu();
  stormCpu.agents =
    workers.reduce((a, w, j) => a + (cpuMsOf(pidOf(w.proc)) - nth(agentCpu0, j, 'CPU start')), 0) /
    (performance.timeOrigin + performance.now() - killedAt);
  const backAt = status.flatMap((x) => x.syncedAt.filter((v) => v > killedAt));
  const lastBack = Math.max(...backAt);
  const stormMs = lastBack - killedAt;
  const reconnect = summarize(backAt.map((v) => v - killedAt));
  const attemptsFailed = status.reduce((s, x) => s + x.failures, 0);
  out.storm = {
    cpu: stormCpu,
    victims: victims.length,
    agents: victimAgents,
    back: backAt.length,
    restartMs,
    fromKillMs: stormMs,
    fromListeningMs: lastBack - listeningAt,
    perAgentFromKill: reconnect,
    failedAttempts: attemptsFailed,
  };
  const stormOk = backAt.length >= victimAgents && stormMs < 30_000;
  process.stdout.write(
    `reconnect storm: ${victims.length} hub process(es) killed (SIGKILL) and restarted (${secs(restartMs)} to ` +
      `listening); ${backAt.length} of ${victimAgents} agents back and synced ${secs(stormMs)} after the kill, ` +
      `${secs(lastBack - listeningAt)} after listening (aim < 30 s: ${verdict(stormOk)})\n` +
      `  per agent, from the kill: p50 ${secs(reconnect.p50)}, p99 ${secs(reconnect.p99)}; ${attemptsFailed} ` +
      `connection attempts failed on the way (refused while down, timed out); ${cpuLine(K, stormCpu)}\n`,
  );
}

/** The hub's own count of the ingest's sales (receipts I-…). */
async function salesAtHub(fleet: Fleet): Promise<number> {
  const { backend } = fleet;
  if (backend.kind === 'sqlite') {
    const db = new Database(join(fleet.dataDir(0), 'hub.sqlite'), { readonly: true, fileMustExist: true });
    const n = (db.prepare(`SELECT COUNT(*) AS n FROM sales WHERE receipt LIKE 'I-%'`).get() as { n: number }).n;
    db.close();
    return n;
  }
  const c = new backend.pg.Client({ connectionString: backend.url });
  await c.connect();
  const { rows } = await c.query(`SELECT COUNT(*) AS n FROM sales WHERE receipt LIKE 'I-%'`);
  await c.end();
  return Number(rows[0]?.n);
}

/** Sales from the sending agents for INGEST_SECONDS, return requests from the returners meanwhile. */
async function ingestRun(fleet: Fleet) {
  const { workers, W } = fleet;
  const returnersPerWorker = Math.floor(Math.min(RETURNERS, STORES / 2) / W);
  const prepared = await Promise.all(
    workers.map((w) =>
      w.ask<{ returners: number; errors: string[] }>({
        op: 'prepare-returns',
        count: returnersPerWorker,
        receiptQty: 100_000,
      }),
    ),
  );
  const returners = prepared.reduce((s, p) => s + p.returners, 0);
  const sendersTotal = Math.min(SENDERS, STORES - returners);
  const sendersPer = workers.map((_, j) => Math.floor(sendersTotal / W) + (j < sendersTotal % W ? 1 : 0));
  await sleep(1000);
  const cpu = cpuMeter(fleet);
  const t = performance.now();
  const reports = await Promise.all(
    workers.map((w, j) =>
      w.ask<{ report: IngestReport }>({
        op: 'ingest',
        senders: nth(sendersPer, j, 'agent process'),
        batch: BATCH,
        durationMs: INGEST_SECONDS * 1000,
        authzPerSec: returners > 0 ? AUTHZ_RATE / W : 0,
        prefix: 'I',
      }),
    ),
  );
  const ingestMs = performance.now() - t;
  return { returners, sendersTotal, ingestMs, ingestCpu: cpu(), rep: reports.map((r) => r.report) };
}

/** The ingest with return requests, beside the floor measured now on the same machine. */
async function ingest(fleet: Fleet): Promise<void> {
  const { backend, out } = fleet;
  const { returners, sendersTotal, ingestMs, ingestCpu, rep } = await ingestRun(fleet);
  const sales = rep.reduce((s, r) => s + r.sales, 0);
  const ingestRate = sales / (ingestMs / 1000);
  const ack = summarize(rep.flatMap((r) => r.ackMs));
  const authz = rep.flatMap((r) => r.authz);
  const authzMs = summarize(authz.map((a) => a.ms));
  const approved = authz.filter((a) => a.ok && a.decision === 'approved' && a.mode === 'online').length;
  const completions = rep.reduce((s, r) => s + r.completions, 0);
  const errors = rep.flatMap((r) => r.errors);
  // the hub's own count: every acked sale is there
  const atHub = await salesAtHub(fleet);
  const floor =
    backend.kind === 'sqlite'
      ? sqliteFloor(fleet.dir, sales, BATCH)
      : await postgresFloor(backend.pg, backend.serverUrl, sales, BATCH);
  const ratio = ingestRate / floor.perSecond;
  out.ingest = {
    cpu: ingestCpu,
    senders: sendersTotal,
    batch: BATCH,
    seconds: ingestMs / 1000,
    sales,
    perSecond: ingestRate,
    atHub,
    batchAck: ack,
    floor,
    ratio,
    errors: errors.length,
  };
  out.authorization = {
    requests: authz.length,
    ratePerSecond: AUTHZ_RATE,
    onlineApproved: approved,
    completions,
    latency: authzMs,
    failed: authz
      .filter((a) => !a.ok)
      .map((a) => a.code)
      .slice(0, 5),
  };
  process.stdout.write(
    `ingest: ${sales} sales in ${secs(ingestMs)} from ${sendersTotal} agents (batches of ${BATCH}, one in flight ` +
      `each) — ${ingestRate.toFixed(0)} sales/s committed ` +
      `(${backend.kind === 'sqlite' ? 'synchronous=FULL' : 'durable commits'}; ${atHub} at the ` +
      `hub)${errors.length ? `; ${errors.length} errors, e.g. ${errors[0] ?? ''}` : ''}\n` +
      `  batch ack p50 ${ms(ack.p50)}, p99 ${ms(ack.p99)} (n=${ack.n}); ${cpuLine(fleet.K, ingestCpu)}\n` +
      `  floor: the same ${sales} sale rows (sale + line) inserted directly into a fresh ` +
      `${backend.kind === 'sqlite' ? 'SQLite file (WAL, synchronous=FULL)' : 'PostgreSQL database'}, one ` +
      `transaction per ${BATCH}: ${floor.perSecond.toFixed(0)} sales/s (${secs(floor.ms)})\n` +
      `  ratio to floor: ${pct(ratio)} (aim ≥ 50 %: ${verdict(ratio >= 0.5)})\n` +
      `online authorization during the ingest: p50 ${ms(authzMs.p50)}, p99 ${ms(authzMs.p99)} (n=${authzMs.n}, ` +
      `${AUTHZ_RATE}/s from ${returners} agents; ${approved} approved online, ${completions} completed) (aim p99 < ` +
      `500 ms: ${verdict(authzMs.p99 < 500)})\n`,
  );
}

async function main(): Promise<void> {
  const machine =
    `${availableParallelism()} vCPU (${cpus()[0]?.model ?? 'cpu'}), ` +
    `${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}, ${process.platform}; ` +
    `open files ${openFilesLimit()}`;
  const date = new Date().toISOString();
  const out: Record<string, unknown> = { date, machine, stores: STORES, registers: REGISTERS };
  process.stdout.write(`Tillbridge fleet-scale benchmark — ${date}\n${machine}\n`);
  const pg = DATABASE ? await loadPg() : undefined;
  const missing = await postgresMissing(pg);
  if (missing) {
    out.postgres = { unavailable: missing };
    if (process.argv.includes('--json')) process.stdout.write(`\n${JSON.stringify(out, null, 2)}\n`);
    process.exitCode = 2;
    return;
  }
  const K = Math.max(1, Math.floor(HUBS));
  const W = Math.max(1, Math.floor(DRIVERS));
  const kind = DATABASE ? 'postgres' : 'sqlite';
  process.stdout.write(
    `backend ${kind}; ${K} hub process(es); ${STORES} stores × ${REGISTERS} registers; agents held in ${W} ` +
      `process(es) beside the driver, on the same machine\n\n`,
  );
  Object.assign(out, { backend: kind, hubs: K, agentProcesses: W });

  const dir = mkdtempSync(join(tmpdir(), 'tb-bench-scale-'));
  await withCleanups(dir, async (cleanups) => {
    const backend = await openBackend(pg, cleanups);
    const { hubs, start, dataDir } = await startHubs(dir, backend, K, cleanups);
    const ids = Array.from({ length: STORES }, (_, i) => `S${String(i + 1).padStart(5, '0')}`);
    const keys = await provision(hubs, ids, out);
    const workers = await startWorkers(hubs, ids, keys, W, cleanups);
    const fleet: Fleet = { dir, backend, hubs, start, dataDir, workers, ids, K, W, out };
    const held = await connections(fleet);
    await reconnectStorm(fleet, held);
    await ingest(fleet);
  });
  if (process.argv.includes('--json')) process.stdout.write(`\n${JSON.stringify(out, null, 2)}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${(err as Error).stack}\n`);
  process.exit(1);
});
