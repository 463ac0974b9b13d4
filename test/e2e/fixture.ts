import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, expect } from 'vitest';
import {
  addStore,
  databaseArgs,
  dropTestDatabase,
  initHub,
  setStock,
  startAgent,
  startHub,
  type AgentHandle,
  type AgentSpec,
  type HubHandle,
} from '@tillbridge/scripts/lib/cluster';
import { JsonLinesRegister } from '@tillbridge/scripts/lib/register-client';
import { waitFor } from '@tillbridge/scripts/lib/wait';
import { AGENT_BIN, HUB_BIN } from '@tillbridge/scripts/lib/paths';
import { runCommand } from '@tillbridge/scripts/lib/process';
import { AdminClient, openHubStorage, type HubStorage } from '@tillbridge/central';
import { TEST_HUB_PROCESSES_ENV, testBackend } from '@tillbridge/scripts/lib/pg-test-db';

function hubProcessesFromEnv(): number {
  const v = process.env[TEST_HUB_PROCESSES_ENV];
  if (v === undefined || v === '') return 1;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1)
    throw new Error(`${TEST_HUB_PROCESSES_ENV}: expected a whole number of 1 or more, got "${v}"`);
  return n;
}

type HubStart = Parameters<typeof startHub>[0];

/** One hub process of a world: how to start it again (on the same port), and its current handle. */
interface HubSlot {
  opts: HubStart;
  handle: HubHandle;
}

/** The admin API of whichever process `pick` names, call by call. */
class SpreadAdminClient extends AdminClient {
  constructor(private readonly pick: () => HubHandle) {
    super('http://127.0.0.1:1', undefined);
  }
  override get<T>(path: string): Promise<T> {
    return this.pick().admin.get<T>(path);
  }
  override post<T>(...args: Parameters<AdminClient['post']>): Promise<T> {
    return this.pick().admin.post<T>(...args);
  }
  override upload<T>(...args: Parameters<AdminClient['upload']>): Promise<T> {
    return this.pick().admin.upload<T>(...args);
  }
  override put<T>(path: string, body?: unknown): Promise<T> {
    return this.pick().admin.put<T>(path, body);
  }
  override delete<T>(path: string): Promise<T> {
    return this.pick().admin.delete<T>(path);
  }
}

/**
 * A throwaway world for one test file: a temp directory, real hub processes and real agent
 * processes, all stopped and removed at the end.
 *
 * On PostgreSQL with TILLBRIDGE_TEST_HUB_PROCESSES=N (N > 1), `startHub()` starts N `serve`
 * processes on the one database, as an operator runs a hub of several processes:
 * - agents are spread over them: the k-th agent name started gets every process's URL (hub.urls),
 *   the (k mod N)-th first, so it is held by that process and fails over to the others;
 * - `hub` is the first process, but its `admin` and `cli` take turns over the running processes,
 *   so a change made through them (inventory, policy, keys, webhooks) is often made at a process
 *   that does not hold the agent it must reach;
 * - `stopHubs`/`restartHubs` stop and start every process ("the hub is down"), `hubOf(agent)` is the
 *   process holding an agent.
 * With one process (SQLite, or N = 1) all this is the single hub process.
 */
export class World {
  /** The world's temp directory, made when first asked for (a world made while collecting tests may never run). */
  private madeDir?: string;
  /** The (first) hub process; with several, its `admin` and `cli` go to each running process in turn. */
  hub!: HubHandle;
  /** Set when the hub's data directory is initialised (the first `startHub()`). */
  private initToken: string | undefined;
  readonly agents: AgentHandle[] = [];
  readonly keys = new Map<string, string>();
  /** Hub processes `startHub()` starts on this world's database. */
  readonly hubProcesses: number;
  /** Every hub process ever started here, to stop at the end. */
  private started: HubHandle[] = [];
  /** The hub processes, by data directory: the first at `hubData`. */
  private slots: HubSlot[] = [];
  /** Which process each agent (by name) is sent to first. */
  private agentTurn = new Map<string, number>();
  private adminTurn = 0;
  /** Registers connected through `register()`, closed first by `close()`. */
  private registers: JsonLinesRegister[] = [];

  /**
   * `clockStart`: the hub's and the agents' clocks start at that instant, for tests on fixed dates.
   * `database`: a PostgreSQL URL every hub process of this world serves from (instead of the run's
   * engine), for several hub processes on one database started by the test itself (startHub's
   * `dataDir`); such a world starts one process per `startHub` call.
   * `hubProcesses`: processes `startHub()` starts (PostgreSQL only); default TILLBRIDGE_TEST_HUB_PROCESSES.
   */
  constructor(readonly opts: { clockStart?: string; database?: string; hubProcesses?: number } = {}) {
    const pg = !opts.database && testBackend() === 'postgres';
    if (opts.hubProcesses !== undefined && opts.hubProcesses > 1 && !pg)
      throw new Error('several hub processes need the PostgreSQL test backend (TILLBRIDGE_TEST_BACKEND=postgres)');
    this.hubProcesses = pg ? (opts.hubProcesses ?? hubProcessesFromEnv()) : 1;
  }

  /** The admin token of the hub's first initialisation; throws before the first `startHub()`. */
  get adminToken(): string {
    if (this.initToken === undefined) throw new Error('no admin token yet: start the hub first');
    return this.initToken;
  }

  /** Whether `startHub()` has initialised the hub's data directory. */
  get hubInitialised(): boolean {
    return this.initToken !== undefined;
  }

  get dir(): string {
    return (this.madeDir ??= mkdtempSync(join(tmpdir(), 'tb-e2e-')));
  }

  get hubData(): string {
    return join(this.dir, 'hub');
  }

  /** The current handle of each hub process, the first at `hubData`. */
  get hubs(): HubHandle[] {
    return this.slots.map((s) => s.handle);
  }

  /**
   * Starts the hub: with `hubProcesses` > 1 the first call starts them all (the first on `port`),
   * a later one starts the first process again. `dataDir`: another hub process's data directory
   * (with `database`): it gets a copy of the first one's hub.secret and audit-signing-key.pem, as an
   * operator copies them. Starting a data directory that ran before replaces its handle.
   */
  async startHub(
    port?: number,
    extraArgs?: string[],
    more: { ca?: string; host?: string; clockStart?: string; dataDir?: string; name?: string } = {},
  ): Promise<HubHandle> {
    this.initToken ??= await initHub(this.hubData, this.opts.database);
    const { dataDir = this.hubData, ...rest } = more;
    const opts: HubStart = { dataDir, adminToken: this.adminToken, ...rest };
    const database = this.opts.database ?? (this.hubProcesses > 1 ? databaseArgs(this.hubData)[1] : undefined);
    if (database) opts.database = database;
    const clockStart = more.clockStart ?? this.opts.clockStart;
    if (clockStart) opts.clockStart = clockStart;
    if (port !== undefined) opts.port = port;
    if (extraArgs) opts.extraArgs = extraArgs;
    const first = this.slots.length === 0;
    const h = await this.launch(opts);
    if (this.hubProcesses > 1 && first && dataDir === this.hubData) {
      for (let i = 2; i <= this.hubProcesses; i++) {
        const { port: _p, ...others } = opts;
        await this.launch({ ...others, dataDir: join(this.dir, `hub-${i}`), name: `${opts.name ?? 'hub'}-${i}` });
      }
    }
    this.hub = this.hubProcesses > 1 ? this.spread(this.slots[0]!.handle) : h;
    return this.hub;
  }

  /** Starts one hub process, on its port of before if it ran before. */
  private async launch(opts: HubStart): Promise<HubHandle> {
    if (opts.dataDir !== this.hubData) {
      mkdirSync(opts.dataDir, { recursive: true, mode: 0o700 });
      for (const f of ['hub.secret', 'audit-signing-key.pem']) {
        if (existsSync(join(this.hubData, f)) && !existsSync(join(opts.dataDir, f)))
          copyFileSync(join(this.hubData, f), join(opts.dataDir, f));
      }
    }
    const handle = await startHub(opts);
    this.started.push(handle);
    const slot = this.slots.find((s) => s.opts.dataDir === opts.dataDir);
    // a process started on port 0 keeps the port it got, so its URL (in the agents' configs) holds
    if (slot) Object.assign(slot, { opts: { ...opts, port: handle.port }, handle });
    else this.slots.push({ opts: { ...opts, port: handle.port }, handle });
    return handle;
  }

  /** `primary` whose admin API and CLI go to each running hub process in turn. */
  private spread(primary: HubHandle): HubHandle {
    const next = (): HubHandle => {
      const running = this.hubs.filter((h) => h.proc.running);
      return running.length === 0 ? primary : running[this.adminTurn++ % running.length]!;
    };
    return { ...primary, admin: new SpreadAdminClient(next), cli: (args) => next().cli(args) };
  }

  /** Stops every hub process (SIGTERM): the hub is down. */
  async stopHubs(): Promise<void> {
    await Promise.all(this.hubs.map((h) => h.proc.stop()));
  }

  /** Starts again, each on its port, every hub process that is not running. */
  async restartHubs(): Promise<HubHandle> {
    await Promise.all(this.slots.filter((s) => !s.handle.proc.running).map((s) => this.launch(s.opts)));
    this.hub = this.hubProcesses > 1 ? this.spread(this.slots[0]!.handle) : this.slots[0]!.handle;
    return this.hub;
  }

  /** The hub process `agent` connected to last. */
  hubOf(agent: AgentHandle): HubHandle {
    const url = agent.proc.lines.filter((l) => l.msg === 'connected to the hub').at(-1)?.url;
    const h = this.hubs.find((x) => x.wsUrl === url);
    if (!h) throw new Error(`${agent.proc.name} is connected to no hub process of this world (last: ${String(url)})`);
    return h;
  }

  async addStore(id: string): Promise<string> {
    const key = await addStore(this.hub, id);
    this.keys.set(id, key);
    return key;
  }

  /**
   * `clockStart` here starts this agent's clock elsewhere than the world's. With several hub
   * processes the agent gets all their URLs, starting with the next process in turn (by name: an
   * agent started again keeps its first process).
   */
  async startAgent(
    store: string,
    name = store,
    overrides?: AgentSpec['overrides'],
    waitForHub = true,
    more: { clockStart?: string } = {},
  ): Promise<AgentHandle> {
    let hubWsUrl: string | string[] = this.hub.wsUrl;
    if (this.hubProcesses > 1) {
      if (!this.agentTurn.has(name)) this.agentTurn.set(name, this.agentTurn.size);
      const urls = this.hubs.map((h) => h.wsUrl);
      const k = this.agentTurn.get(name)! % urls.length;
      hubWsUrl = [...urls.slice(k), ...urls.slice(0, k)];
    }
    const spec: AgentSpec = { dir: join(this.dir, `agent-${name}`), store, apiKey: this.keys.get(store)!, hubWsUrl };
    if (overrides) spec.overrides = overrides;
    const clockStart = more.clockStart ?? this.opts.clockStart;
    if (clockStart) spec.clockStart = clockStart;
    const a = await startAgent(spec, waitForHub);
    this.agents.push(a);
    return a;
  }

  /** Read-only view of a SQLite file while its owner keeps running (WAL allows it). */
  query<T>(file: string, sql: string, ...params: unknown[]): T[] {
    const db = new Database(file, { readonly: true });
    try {
      return db.prepare(sql).all(...params) as T[];
    } finally {
      db.close();
    }
  }

  /** The hub's storage, on whichever engine its hub runs (TILLBRIDGE_TEST_BACKEND), for a moment. */
  private withHubStorage<T>(fn: (s: HubStorage) => T): T {
    const s = openHubStorage(this.hubData, { database: this.opts.database ?? databaseArgs(this.hubData)[1] });
    try {
      return fn(s);
    } finally {
      s.close();
    }
  }

  hubQuery<T>(sql: string, ...params: unknown[]): T[] {
    return this.withHubStorage((s) => s.db.prepare(sql).all(...params) as T[]);
  }

  /** Changes the hub's database behind its back (tamper tests). */
  hubExec(sql: string, ...params: unknown[]): number {
    return this.withHubStorage((s) => s.db.prepare(sql).run(...params).changes);
  }

  /** The engine the hub runs on in this run. */
  get backend(): 'sqlite' | 'postgres' {
    return this.opts.database || databaseArgs(this.hubData).length > 0 ? 'postgres' : 'sqlite';
  }

  agentQuery<T>(agent: AgentHandle, sql: string, ...params: unknown[]): T[] {
    return this.query<T>(join(agent.dataDir, 'agent.sqlite'), sql, ...params);
  }

  /** A register connected to `agent`'s register port (R1 by default), closed with the world. */
  async register(agent: AgentHandle, id?: string): Promise<JsonLinesRegister> {
    const reg = await JsonLinesRegister.connect(agent.port(id));
    this.registers.push(reg);
    return reg;
  }

  /**
   * Starts agent `name` of `store`, sells one of `sku` under each receipt through a register on it
   * (the register returned, still open) and waits until they have all reached the hub.
   */
  async startAndSell(
    store: string,
    name: string,
    receipts: string[],
    sku: string,
  ): Promise<{ agent: AgentHandle; reg: JsonLinesRegister }> {
    const agent = await this.startAgent(store, name);
    const reg = await JsonLinesRegister.connect(agent.port());
    await sellEach(reg, receipts, sku);
    await drained(agent);
    return { agent, reg };
  }

  /** Waits until the hub holds the sale with this receipt. */
  async hubSale(receipt: string, timeoutMs = 10_000): Promise<void> {
    const q = `SELECT 1 FROM sales WHERE receipt = ?`;
    await waitFor(`the sale ${receipt} at the hub`, () => this.hubQuery(q, receipt).length === 1, timeoutMs);
  }

  /** The hub's sales whose receipt starts with `prefix`. */
  hubSales(prefix: string): number {
    return this.hubQuery<{ n: number }>(`SELECT COUNT(*) AS n FROM sales WHERE receipt LIKE ?`, `${prefix}%`)[0]!.n;
  }

  /** The receipts the hub holds with this prefix, each with the number of events that carried it. */
  hubReceipts(prefix: string): Map<string, number> {
    const rows = this.hubQuery<{ receipt: string; n: number }>(
      `SELECT s.receipt, (SELECT COUNT(*) FROM applied_events e WHERE e.event_id = s.event_id) AS n
         FROM sales s WHERE s.receipt LIKE ? ORDER BY s.receipt`,
      `${prefix}%`,
    );
    return new Map(rows.map((r) => [r.receipt, r.n]));
  }

  /** Runs the hub CLI with `--json` added; it must succeed; its output parsed. */
  async cliJson<T>(args: string[]): Promise<T> {
    const r = await this.hub.cli([...args, '--json']);
    expect(r.code, r.stderr).toBe(0);
    return JSON.parse(r.stdout) as T;
  }

  async close(): Promise<void> {
    for (const reg of this.registers) reg.close();
    await Promise.all(this.agents.map((a) => a.proc.stop()));
    await Promise.all(this.started.map((h) => h.proc.stop()));
    if (this.madeDir === undefined) return;
    dropTestDatabase(this.hubData); // on PostgreSQL: the test database initHub made
    rmSync(this.madeDir, { recursive: true, force: true });
  }
}

/** What an end-to-end file's world starts with besides the World's options. */
export interface WorldSetup extends NonNullable<ConstructorParameters<typeof World>[0]> {
  /** Extra arguments of the hub's `serve`. */
  hubArgs?: string[];
  /** Stores added at the hub, in order. */
  stores?: string[];
  /** Each store's stock by SKU, set at the hub. */
  stock?: Record<string, Record<string, number>>;
  /**
   * Starts the hub in place of `w.startHub(undefined, hubArgs)`: for what must exist before it starts
   * (a data directory, certificates, a serial line) or for other options of `startHub`.
   */
  startHub?: (w: World) => Promise<unknown>;
  /** Run after the file's tests, before the world closes (an unmount, a serial line to close). */
  beforeClose?: (w: World) => Promise<unknown>;
}

/** Starts `w`'s hub, adds its stores and sets their stock. */
export async function setUpWorld(w: World, setup: WorldSetup): Promise<World> {
  await (setup.startHub ? setup.startHub(w) : w.startHub(undefined, setup.hubArgs));
  for (const store of setup.stores ?? []) await w.addStore(store);
  for (const [store, skus] of Object.entries(setup.stock ?? {})) {
    for (const [sku, qty] of Object.entries(skus)) await setStock(w.hub, store, sku, qty);
  }
  return w;
}

/**
 * The world of one test file: set up before its tests (setUpWorld) and closed after them, with the
 * registers and agents started through it. Call it at the top level of the file.
 */
export function worldForFile(setup: WorldSetup = {}): World {
  const { hubArgs: _h, stores: _s, stock: _k, startHub: _b, beforeClose, ...options } = setup;
  const w = new World(options);
  beforeAll(() => setUpWorld(w, setup));
  afterAll(async () => {
    try {
      await beforeClose?.(w);
    } finally {
      await w.close();
    }
  });
  return w;
}

/** The world of a file whose tests sell one SKU at one store (`skuWorld`), with its two ways to sell. */
export interface SkuWorld {
  w: World;
  /** Sells one of the SKU under each receipt through `reg`, each acked. */
  sell: (reg: JsonLinesRegister, receipts: string[]) => Promise<void>;
  /** Starts agent `name` of the store, sells one of the SKU under each receipt and waits for the hub (startAndSell). */
  sold: (name: string, receipts: string[]) => ReturnType<World['startAndSell']>;
}

/** worldForFile with store S1 holding 1000 of SKU K, which its tests sell. */
export function skuWorld(): SkuWorld {
  const w = worldForFile({ stores: ['S1'], stock: { S1: { K: 1000 } } });
  return {
    w,
    sell: (reg, receipts) => sellEach(reg, receipts, 'K'),
    sold: (name, receipts) => w.startAndSell('S1', name, receipts, 'K'),
  };
}

/** Runs the built hub program (`tillbridge-hub ARGS`) to its end, `env` added to the environment. */
export const hubBin = (args: string[], env?: NodeJS.ProcessEnv): ReturnType<typeof runCommand> =>
  runCommand(process.execPath, [HUB_BIN, ...args], env);

/** Runs the built agent program (`tillbridge-agent ARGS`) to its end, `env` added to the environment. */
export const agentBin = (args: string[], env?: NodeJS.ProcessEnv): ReturnType<typeof runCommand> =>
  runCommand(process.execPath, [AGENT_BIN, ...args], env);

/** An agent's status document (GET /status). */
export async function statusOf<T>(agent: AgentHandle): Promise<T> {
  return (await (await fetch(`${agent.statusUrl}/status`)).json()) as T;
}

/** Waits until `agent` is connected to the hub with nothing left in its outbox. */
export async function drained(agent: AgentHandle, timeoutMs = 30_000): Promise<void> {
  await waitFor(
    'the outbox to drain',
    async () => {
      const s = await statusOf<{ outbox: { depth: number }; hub: { connected: boolean } }>(agent);
      return s.hub.connected && s.outbox.depth === 0;
    },
    timeoutMs,
  );
}

/** Sells one of `sku` at 1.00 under each receipt, each acked (its message id is m-RECEIPT). */
export async function sellEach(reg: JsonLinesRegister, receipts: string[], sku: string): Promise<void> {
  for (const r of receipts) {
    expect(await reg.send(sale(`m-${r}`, r, [{ sku, qty: 1, unitPrice: 100 }]))).toEqual({ type: 'ack', id: `m-${r}` });
  }
}

/** DESIGN rules 4 and 5, checked on the hub's database. Returns the violations (none expected). */
export function invariantViolations(w: World): { overReturned: unknown[]; ledgerDrift: unknown[] } {
  const overReturned = w.hubQuery(
    `SELECT sl.store, sl.receipt, sl.line, sl.qty, u.used FROM sale_lines sl
       JOIN (SELECT r.sale_store, r.receipt, rl.line,
                    SUM(CASE WHEN r.status = 'completed' THEN rl.completed_qty
                             WHEN r.status = 'reserved' THEN rl.approved_qty ELSE 0 END) AS used
               FROM returns r JOIN return_lines rl ON rl.authorization = r.authorization
              WHERE r.exception_code IS NULL GROUP BY r.sale_store, r.receipt, rl.line) u
         ON u.sale_store = sl.store AND u.receipt = sl.receipt AND u.line = sl.line
      WHERE u.used > sl.qty`,
  );
  const ledgerDrift = w.hubQuery(
    `SELECT i.store, i.sku, i.on_hand FROM inventory i
      WHERE i.on_hand <> (SELECT COALESCE(SUM(delta), 0) FROM movements m WHERE m.store = i.store AND m.sku = i.sku)`,
  );
  return { overReturned, ledgerDrift };
}

export const sale = (
  id: string,
  receipt: string,
  lines: { sku: string; qty: number; unitPrice: number }[],
  pan?: string,
) => ({
  type: 'sale',
  id,
  receipt,
  at: new Date().toISOString(),
  currency: 'EUR',
  lines: lines.map((l, i) => ({ line: i + 1, ...l })),
  tenders: [
    {
      kind: pan ? 'card' : 'cash',
      amount: lines.reduce((t, l) => t + l.qty * l.unitPrice, 0),
      ...(pan ? { pan } : {}),
    },
  ],
});

/** A register's request to return `qty` of line 1 of the sale with this receipt. */
export const returnRequest = (id: string, receipt: string, qty = 1) => ({
  type: 'return.request',
  id,
  receipt,
  lines: [{ line: 1, qty }],
});

/** A register's completion of an authorised return of `qty` of line 1, refunded in cash. */
export const cashReturn = (id: string, authorization: string, amount: number, qty = 1) => ({
  type: 'return.complete',
  id,
  authorization,
  lines: [{ line: 1, qty }],
  refund: { kind: 'cash', amount },
});

export interface Decision {
  type: string;
  decision: string;
  mode: string;
  authorization: string;
  lines: { line: number; approvedQty: number; code: string }[];
  reason?: string;
}
