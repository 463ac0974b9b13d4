/**
 * `npm run bench`: Tillbridge's figures beside the raw floor measured in the same run.
 *   - online return authorization, register → decision (real agent and hub processes)
 *   - sale throughput, register → hub commit
 *   - floor: a WebSocket echo round trip on loopback, one durable SQLite commit
 * Prints medians, p99 and ratios; with --json, writes them to stdout as JSON too.
 * `npm run bench -- scale` (also `import`, `presence`, `migrate`, `apply`, `feed`) runs that benchmark instead.
 */
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import {
  addStore,
  agentStatus,
  initHub,
  setStock,
  startAgent,
  startHub,
  type AgentHandle,
  type HubHandle,
} from '@tillbridge/scripts/lib/cluster';
import { startup } from './startup.js';
import { JsonLinesRegister } from '@tillbridge/scripts/lib/register-client';
import { waitFor } from '@tillbridge/scripts/lib/wait';
import Database from 'better-sqlite3';
import { countingProxy, type CountingProxy } from './byte-proxy.js';
import { ackFloor, ptyEcho, sqliteCommit, sqliteFloor, stxFloor, threeProcessFloor, wsEcho } from './floor.js';
import { startPtyPair, type PtyPair } from '@tillbridge/scripts/lib/pty';
import { StxRegister } from '@tillbridge/scripts/lib/stx-register';
import { ROOT } from '@tillbridge/scripts/lib/paths';
import { mkdirSync } from 'node:fs';
import { cpuMsOf, machine, ms, pidOf, summarize, type Summary } from './stats.js';
import { withCleanups, type Cleanups } from './cleanups.js';
import { registerSale } from './sales.js';

const N = Number(process.env.BENCH_N ?? 500);
const SALES = Number(process.env.BENCH_SALES ?? 2000);
const CONNS = Number(process.env.BENCH_CONNS ?? 4);
/** Registers ringing up sales at once for the concurrent sale ack (issue 14: "eight concurrent registers"). */
const ACK_CONNS = Number(process.env.BENCH_ACK_CONNS ?? 8);
/** Registers the bench's agent has: the throughput's and the concurrent ack's, whichever is more. */
const REGISTERS = Math.max(CONNS, ACK_CONNS);

/** How many sales of receipts starting with `prefix` the hub has. */
type SalesCount = (prefix: string) => number;

function line(label: string, s: Summary): string {
  return `${label.padEnd(44)} p50 ${ms(s.p50).padStart(10)}   p99 ${ms(s.p99).padStart(10)}   (n=${s.n})`;
}

/** Sales per commit in the throughput floor: a group commit, as the hub's batched apply makes. */
const FLOOR_GROUP = 100;

/**
 * The B-trees (tables and indexes) a sale's commit writes at the agent: its receipt (and receipts_created), its outbox
 * row (the table, its event_id index, sqlite_sequence), its journal entry (the table and journal_day, journal_created,
 * journal_ref) and its reply (replies, replies_created). strace counted 11 WAL pages per sale commit on 2026-12-01.
 */
const SALE_TREES = 11;
/**
 * WAL pages an online authorization's commit wrote at the hub (the ticket and its lines with their indexes, the
 * reservation, the audit entry, the feed entry…): 18 to 26, counted with strace on 2026-12-01; the fewest.
 */
const AUTHZ_TREES = 18;
/**
 * Idle time before each commit of the commit floor measured again: about a sale ack's round trip, and an
 * authorization's. A commit on a path of round trips waits for its message; one right after another does not.
 */
const IDLE_BEFORE_COMMIT_MS = [1, 4] as const;

interface Floor {
  /** register → relay (TCP) → server (WebSocket, one durable commit) and back: three processes */
  path: Summary;
  echo: Summary;
  commit: Summary;
  /** register → server (TCP, one durable commit) → ack: the sale ack's path, two processes */
  ackPath: Summary;
  /** one durable commit writing SALE_TREES B-trees: a sale's commit at the agent, in its shape */
  saleCommit: Summary;
  /** one durable commit writing AUTHZ_TREES B-trees: an authorization's commit at the hub, in its shape */
  authzCommit: Summary;
  /** the one-row commit again, each after IDLE_BEFORE_COMMIT_MS[i] of idle time */
  idleCommits: { idleMs: number; commit: Summary }[];
  /** SALES sales (sale + line) committed durably in groups of FLOOR_GROUP, sales per second */
  groupCommit: number;
}

const ratio = (v: number, floor: number): string => `${(v / floor).toFixed(2)}×`;
const aim = (met: boolean, text: string): string => `(aim ${text}: ${met ? 'met' : 'NOT met'})`;

async function measureFloor(dir: string): Promise<Floor> {
  const path = await threeProcessFloor(N);
  const ackPath = await ackFloor(N);
  const echo = await wsEcho(N);
  const commit = sqliteCommit(N);
  const saleCommit = sqliteCommit(N, SALE_TREES);
  const authzCommit = sqliteCommit(N, AUTHZ_TREES);
  const idleCommits = IDLE_BEFORE_COMMIT_MS.map((idleMs) => ({ idleMs, commit: sqliteCommit(N, 1, idleMs) }));
  const groupCommit = sqliteFloor(dir, SALES, FLOOR_GROUP).perSecond;
  process.stdout.write(`${line('floor: TCP → relay → WS → commit, 3 processes', path)}\n`);
  process.stdout.write(`${line('  part: ws echo round trip (one process)', echo)}\n`);
  process.stdout.write(`${line('floor: TCP → commit → ack, 2 processes', ackPath)}\n`);
  process.stdout.write(`${line('floor: durable SQLite commit (WAL, FULL)', commit)}\n`);
  process.stdout.write(`${line(`  part: the same, ${SALE_TREES} B-trees (as a sale)`, saleCommit)}\n`);
  process.stdout.write(`${line(`  part: the same, ${AUTHZ_TREES} B-trees (as an authz)`, authzCommit)}\n`);
  for (const { idleMs, commit: c } of idleCommits)
    process.stdout.write(`${line(`  part: one row, ${idleMs} ms idle before each`, c)}\n`);
  process.stdout.write(
    `${'floor: group commit of the same sale rows'.padEnd(44)} ${groupCommit.toFixed(0)} sales/s ` +
      `(${SALES} sales, ${FLOOR_GROUP} a commit)\n\n`,
  );
  return { path, ackPath, echo, commit, saleCommit, authzCommit, idleCommits, groupCommit };
}

/** A hub with store B1, and B1's agent with CONNS JSON-lines registers and a serial one (ECR) on a pty. */
interface Cluster {
  hub: HubHandle;
  agent: AgentHandle;
  pty: PtyPair;
  /** between the agent and the hub: counts the sync's bytes each way */
  wire: CountingProxy;
}

async function startCluster(dir: string, cleanups: Cleanups): Promise<Cluster> {
  const adminToken = await initHub(join(dir, 'hub'));
  const hub = await startHub({ dataDir: join(dir, 'hub'), adminToken });
  cleanups.push(() => hub.proc.stop());
  const apiKey = await addStore(hub, 'B1');
  const hubUrl = new URL(hub.wsUrl);
  const wire = await countingProxy(hubUrl.hostname, Number(hubUrl.port));
  cleanups.push(() => wire.close());
  hubUrl.port = String(wire.port);
  await setStock(hub, 'B1', 'SKU-1', 1_000_000);
  const ptyDir = join(dir, 'pty');
  mkdirSync(ptyDir);
  const pty = await startPtyPair(ptyDir);
  cleanups.push(() => pty.close());
  const registers: unknown[] = Array.from({ length: REGISTERS }, (_, i) => ({
    id: `R${i + 1}`,
    transport: { type: 'tcp-server', host: '127.0.0.1', port: 0 },
    codec: 'jsonl',
  }));
  registers.push({
    id: 'ECR',
    transport: { type: 'serial', path: pty.a, baudRate: 115200 },
    framing: { type: 'stx-etx', lrc: true },
    codec: { type: 'delimited', profile: join(ROOT, 'installers', 'profiles', 'acme-ecr-400-delimited.json') },
  });
  const agent = await startAgent({
    dir: join(dir, 'agent'),
    store: 'B1',
    apiKey,
    hubWsUrl: hubUrl.toString(),
    registers: Array.from({ length: REGISTERS }, (_, i) => ({ id: `R${i + 1}` })),
    overrides: { registers },
  });
  cleanups.push(() => agent.proc.stop());
  return { hub, agent, pty, wire };
}

/**
 * The agent's and the hub's CPU time (user + system, from /proc) from now until the returned function is called with
 * the number of sales the phase made: µs per sale each. Where the time goes when the machine is the limit.
 */
function cpuPerSale(agent: AgentHandle, hub: HubHandle): (sales: number) => { agent: number; hub: number } {
  const [agentPid, hubPid] = [pidOf(agent.proc.proc), pidOf(hub.proc.proc)];
  const [agent0, hub0] = [cpuMsOf(agentPid), cpuMsOf(hubPid)];
  return (sales) => ({
    agent: ((cpuMsOf(agentPid) - agent0) * 1000) / sales,
    hub: ((cpuMsOf(hubPid) - hub0) * 1000) / sales,
  });
}

/**
 * Where the hub and the agent run with bench/sql-capture.ts preloaded (TB_SQL_CAPTURE, see there): a phase's start and
 * end (performance.now() of this process), what it made and the floors it is read against, into TB_SQL_CAPTURE's
 * phases.json, for bench/sql-replay.ts.
 */
function notePhase(name: string, start: number, end: number, count: number, unit: string, floors: object): void {
  const dir = process.env.TB_SQL_CAPTURE;
  if (!dir) return;
  const file = join(dir, 'phases.json');
  const phases = existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>) : {};
  const at = (t: number): number => performance.timeOrigin + t;
  phases[name] = { start: at(start), end: at(end), count, unit, floors };
  writeFileSync(file, JSON.stringify(phases, null, 2));
}

/** Online authorization latency: N returns (after 50 to warm up) of sales already at the hub. */
async function authorization(reg: JsonLinesRegister, salesAtHub: SalesCount, floor: Floor): Promise<Summary> {
  for (let i = 0; i < N + 50; i++) await reg.send(registerSale(`bs-${i}`, `BA-${i}`));
  await waitFor('sales at the hub', () => salesAtHub('BA-') === N + 50, 60_000);
  const auth: number[] = [];
  let offline = 0;
  let start = 0;
  for (let i = 0; i < N + 50; i++) {
    const t = performance.now();
    if (i === 50) start = t;
    const d = await reg.send<{ mode: string; decision: string }>({
      type: 'return.request',
      id: `br-${i}`,
      receipt: `BA-${i}`,
      lines: [{ line: 1, qty: 1 }],
    });
    const dt = performance.now() - t;
    if (d.mode !== 'online' || d.decision !== 'approved') offline++;
    if (i >= 50) auth.push(dt);
  }
  notePhase('authorization', start, performance.now(), N, 'authorization', {
    threeProcessP50: floor.path.p50,
    threeProcessP99: floor.path.p99,
    commitP50: floor.commit.p50,
    authorizationShapedCommitP50: floor.authzCommit.p50,
  });
  const a = summarize(auth);
  process.stdout.write(`${line('online authorization, register → decision', a)}\n`);
  const met = a.p50 <= 1.5 * floor.path.p50 && a.p99 <= 2.5 * floor.path.p99;
  process.stdout.write(
    `${''.padEnd(44)} ratio to the 3-process floor: p50 ${ratio(a.p50, floor.path.p50)}, ` +
      `p99 ${ratio(a.p99, floor.path.p99)} ${aim(met, 'p50 ≤ 1.5×, p99 ≤ 2.5×')}` +
      `${offline ? `  (${offline} not online-approved!)` : ''}\n`,
  );
  return a;
}

/** Sale ack latency (one register, sequential). */
async function saleAck(reg: JsonLinesRegister, floor: Floor): Promise<Summary> {
  const ack: number[] = [];
  for (let i = 0; i < N; i++) {
    const t = performance.now();
    await reg.send(registerSale(`bl-${i}`, `BL-${i}`));
    ack.push(performance.now() - t);
  }
  const s = summarize(ack);
  process.stdout.write(`${line('sale ack, register → durable at the agent', s)}\n`);
  process.stdout.write(
    `${''.padEnd(44)} ratio to one durable commit: p50 ${ratio(s.p50, floor.commit.p50)} ` +
      `${aim(s.p50 <= 1.3 * floor.commit.p50, 'p50 ≤ 1.3×')}\n`,
  );
  process.stdout.write(
    `${''.padEnd(44)} to the 2-process floor (TCP + one commit): p50 ${ratio(s.p50, floor.ackPath.p50)}; ` +
      `to a commit of a sale's ${SALE_TREES} B-trees: ${ratio(s.p50, floor.saleCommit.p50)}\n`,
  );
  const idle = floor.idleCommits[0];
  if (idle)
    process.stdout.write(
      `${''.padEnd(44)} to one commit after ${idle.idleMs} ms idle: p50 ${ratio(s.p50, idle.commit.p50)}; ` +
        `that commit to one right after another: ${ratio(idle.commit.p50, floor.commit.p50)}\n`,
    );
  return s;
}

/**
 * Sale ack latency with ACK_CONNS registers ringing up at once, each sequentially: N sales each, every
 * sale's ack time (the group commit's case: the registers' sales share commits).
 */
async function concurrentSaleAck(
  agent: AgentHandle,
  salesAtHub: SalesCount,
  single: Summary,
  floor: Floor,
): Promise<Summary> {
  const regs = await Promise.all(
    Array.from({ length: ACK_CONNS }, (_, i) => JsonLinesRegister.connect(agent.port(`R${i + 1}`))),
  );
  const ack: number[] = [];
  const t0 = performance.now();
  await Promise.all(
    regs.map(async (r, c) => {
      for (let i = 0; i < N; i++) {
        const t = performance.now();
        await r.send(registerSale(`bc-${c}-${i}`, `BC-${c}-${i}`));
        ack.push(performance.now() - t);
      }
    }),
  );
  const rate = (N * ACK_CONNS) / ((performance.now() - t0) / 1000);
  regs.forEach((r) => r.close());
  // uploaded before the throughput starts, so it does not compete with it
  await waitFor('concurrent ack sales at the hub', () => salesAtHub('BC-') === N * ACK_CONNS, 120_000, 5);
  const s = summarize(ack);
  process.stdout.write(`${line(`sale ack, ${ACK_CONNS} registers at once`, s)}
`);
  process.stdout.write(
    `${''.padEnd(44)} ratio to one durable commit: p50 ${ratio(s.p50, floor.commit.p50)}, ` +
      `to one register's: ${ratio(s.p50, single.p50)}; ${rate.toFixed(0)} acks/s ` +
      `${aim(s.p50 <= 1.3 * floor.commit.p50, 'p50 ≤ 1.3×')}\n`,
  );
  return s;
}

/** Sale throughput, register → hub commit: SALES sales over CONNS registers at once. */
async function throughput(
  { agent, hub, wire }: Cluster,
  salesAtHub: SalesCount,
  floor: Floor,
): Promise<Record<string, number>> {
  const regs = await Promise.all(
    Array.from({ length: CONNS }, (_, i) => JsonLinesRegister.connect(agent.port(`R${i + 1}`))),
  );
  const per = Math.ceil(SALES / CONNS);
  const [up0, down0] = [wire.up(), wire.down()];
  const cpu = cpuPerSale(agent, hub);
  const t0 = performance.now();
  await Promise.all(
    regs.map(async (r, c) => {
      for (let i = 0; i < per; i++) await r.send(registerSale(`bt-${c}-${i}`, `BT-${c}-${i}`));
    }),
  );
  const acked = performance.now() - t0;
  await waitFor('throughput sales at the hub', () => salesAtHub('BT-') === per * CONNS, 120_000, 5);
  const landed = performance.now() - t0;
  const cpuUs = cpu(per * CONNS);
  notePhase('throughput', t0, t0 + landed, per * CONNS, 'sale', { groupCommitSalesPerSecond: floor.groupCommit });
  const rate = (per * CONNS) / (landed / 1000);
  const bytesUp = (wire.up() - up0) / (per * CONNS);
  const bytesDown = (wire.down() - down0) / (per * CONNS);
  process.stdout.write(
    `${'sale throughput, register → hub commit'.padEnd(44)} ${rate.toFixed(0)} sales/s (${per * CONNS} sales over ` +
      `${CONNS} registers; all acked ${acked.toFixed(0)} ms, all at the hub ${landed.toFixed(0)} ms)\n`,
  );
  process.stdout.write(
    `${''.padEnd(44)} share of the group-commit floor: ${((100 * rate) / floor.groupCommit).toFixed(1)} % ` +
      `${aim(rate >= 0.3 * floor.groupCommit, '≥ 30 %')}\n`,
  );
  process.stdout.write(
    `${''.padEnd(44)} CPU per sale (user + system): ` +
      `agent ${cpuUs.agent.toFixed(0)} µs, hub ${cpuUs.hub.toFixed(0)} µs\n`,
  );
  process.stdout.write(
    `${'bytes on the wire per sale, agent ⇄ hub'.padEnd(44)} ${bytesUp.toFixed(0)} up, ${bytesDown.toFixed(0)} down ` +
      `(WebSocket frames, TCP/IP headers not counted) ${aim(bytesUp + bytesDown <= 200, '≤ 200 bytes')}\n`,
  );
  regs.forEach((r) => r.close());
  return {
    bytesUpPerSale: bytesUp,
    bytesDownPerSale: bytesDown,
    sales: per * CONNS,
    registers: CONNS,
    ackedMs: acked,
    hubCommittedMs: landed,
    perSecond: rate,
    agentCpuUsPerSale: cpuUs.agent,
    hubCpuUsPerSale: cpuUs.hub,
    floorGroupCommitPerSecond: floor.groupCommit,
  };
}

/** One sale record of the serial register's profile (installers/profiles/acme-ecr-400-delimited.json). */
const serialRecord = (i: number): string =>
  `S|${String(900000 + i)}|BS-${i}|20261127|1015|EUR|1|SKU-1|1000|1000|1|01|1000|`;

/**
 * The framed serial round trip through the agent, beside the pty's own echo and beside the protocol's floor (the same
 * four transfers and one commit, in a two-process program of no more than that).
 */
async function serialRoundTrip(dir: string, agent: AgentHandle, cleanups: Cleanups, floor: Floor): Promise<unknown> {
  // the floors' pairs in a folder of their own: the agent, waiting to reopen its serial register at pty/a, must not
  // take them (it would hold the port's lock)
  const floorPtyDir = join(dir, 'pty-floor');
  mkdirSync(floorPtyDir);
  const echoPty = await startPtyPair(floorPtyDir);
  cleanups.push(() => echoPty.close());
  const ptyFloor = await ptyEcho(echoPty.a, echoPty.b, N);
  await echoPty.close();
  const stxPty = await startPtyPair(floorPtyDir);
  cleanups.push(() => stxPty.close());
  const protocolFloor = await stxFloor(stxPty.a, stxPty.b, N, serialRecord);
  await stxPty.close();
  const serialPty = await startPtyPair(join(dir, 'pty'));
  cleanups.push(() => serialPty.close());
  await waitFor(
    'the serial register reopened',
    async () => {
      const st = await agentStatus(agent);
      return st.registers.find((r) => r.id === 'ECR')?.state === 'connected';
    },
    20_000,
  );
  const ecr = await StxRegister.open(serialPty.b, 115200);
  const serial: number[] = [];
  for (let i = 0; i < N + 20; i++) {
    const t = performance.now();
    const a = await ecr.send(serialRecord(i));
    if (a.control !== 'ACK') throw new Error(`serial sale ${i}: ${a.control}`);
    if (i >= 20) serial.push(performance.now() - t);
  }
  await ecr.close();
  await serialPty.close();
  const sr = summarize(serial);
  process.stdout.write(`\n${line('floor: pty echo round trip (socat, 115200)', ptyFloor)}\n`);
  process.stdout.write(`${line('floor: frame → ACK, commit, reply, 2 procs', protocolFloor)}\n`);
  process.stdout.write(`${line('serial sale, STX/ETX frame → ACK + reply', sr)}\n`);
  const serialFloor = ptyFloor.p50 + floor.commit.p50;
  process.stdout.write(
    `${''.padEnd(44)} ratio to pty echo + one commit: p50 ${ratio(sr.p50, serialFloor)} ` +
      `${aim(sr.p50 <= 2 * serialFloor, 'p50 ≤ 2×')}\n`,
  );
  process.stdout.write(
    `${''.padEnd(44)} to the protocol's 2-process floor: p50 ${ratio(sr.p50, protocolFloor.p50)}; ` +
      `that floor to pty echo + one commit: ${ratio(protocolFloor.p50, serialFloor)}\n`,
  );
  return { roundTrip: sr, ptyEcho: ptyFloor, protocolFloor };
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'tb-bench-'));
  const date = new Date().toISOString();
  const out: Record<string, unknown> = { date, machine: machine() };
  process.stdout.write(`Tillbridge benchmark — ${date}\n${machine()}\n\n`);
  const floor = await measureFloor(dir);
  await withCleanups(dir, async (cleanups) => {
    const cluster = await startCluster(dir, cleanups);
    const { agent, pty } = cluster;
    const reg = await JsonLinesRegister.connect(agent.port('R1'));
    const hubDb = new Database(join(dir, 'hub', 'hub.sqlite'), { readonly: true });
    const salesAtHub: SalesCount = (prefix) =>
      (hubDb.prepare(`SELECT COUNT(*) AS n FROM sales WHERE receipt LIKE ?`).get(`${prefix}%`) as { n: number }).n;
    out.authorization = await authorization(reg, salesAtHub, floor);
    const single = await saleAck(reg, floor);
    out.saleAck = single;
    reg.close();
    if (ACK_CONNS > 0) out.saleAckConcurrent = await concurrentSaleAck(agent, salesAtHub, single, floor);
    out.throughput = await throughput(cluster, salesAtHub, floor);
    hubDb.close();
    await pty.close();
    out.serial = await serialRoundTrip(dir, agent, cleanups, floor);
    out.startup = await startup(dir, cluster.hub, cleanups);
  });
  out.floor = {
    threeProcess: floor.path,
    twoProcessAck: floor.ackPath,
    wsEcho: floor.echo,
    sqliteCommit: floor.commit,
    saleShapedCommit: floor.saleCommit,
    authorizationShapedCommit: floor.authzCommit,
    commitAfterIdle: floor.idleCommits,
    groupCommitSalesPerSecond: floor.groupCommit,
  };
  if (process.argv.includes('--json')) process.stdout.write(`\n${JSON.stringify(out, null, 2)}\n`);
}

// `npm run bench -- scale` (or import, presence, …): that benchmark instead (its own file, its own flags)
const others: Record<string, string> = {
  scale: 'scale',
  import: 'import',
  presence: 'presence',
  migrate: 'migrate',
  apply: 'apply',
  feed: 'feed',
  backlog: 'backlog',
  startup: 'startup-run',
};
const other = others[process.argv[2] ?? ''];
if (other) {
  process.argv.splice(2, 1);
  await import(`./${other}.js`);
} else {
  main().catch((err: unknown) => {
    process.stderr.write(`bench failed: ${(err as Error).stack}\n`);
    process.exit(1);
  });
}
