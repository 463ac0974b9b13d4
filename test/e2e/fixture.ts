import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { addStore, databaseArgs, dropTestDatabase, initHub, startAgent, startHub, type AgentHandle, type AgentSpec, type HubHandle } from '@tillbridge/scripts/lib/cluster';
import { openHubStorage, type HubStorage } from '@tillbridge/central';

/**
 * A throwaway world for one test file: a temp directory, a real hub process and real agent
 * processes, all stopped and removed at the end.
 */
export class World {
  readonly dir = mkdtempSync(join(tmpdir(), 'tb-e2e-'));
  hub!: HubHandle;
  adminToken!: string;
  readonly agents: AgentHandle[] = [];
  readonly keys = new Map<string, string>();
  private hubs: HubHandle[] = [];

  /**
   * `clockStart`: the hub's and the agents' clocks start at that instant, for tests on fixed dates.
   * `database`: a PostgreSQL URL every hub process of this world serves from (instead of the run's
   * engine), for several hub processes on one database (startHub's `dataDir`).
   */
  constructor(readonly opts: { clockStart?: string; database?: string } = {}) {}

  get hubData(): string {
    return join(this.dir, 'hub');
  }

  /**
   * `dataDir`: another hub process's data directory (with `database`): it gets a copy of the first
   * one's hub.secret and audit-signing-key.pem, as an operator copies them.
   */
  async startHub(port?: number, extraArgs?: string[], more: { ca?: string; host?: string; clockStart?: string; dataDir?: string; name?: string } = {}): Promise<HubHandle> {
    this.adminToken ??= await initHub(this.hubData, this.opts.database);
    const { dataDir = this.hubData, ...rest } = more;
    if (dataDir !== this.hubData) {
      mkdirSync(dataDir, { recursive: true, mode: 0o700 });
      for (const f of ['hub.secret', 'audit-signing-key.pem']) {
        if (existsSync(join(this.hubData, f)) && !existsSync(join(dataDir, f))) copyFileSync(join(this.hubData, f), join(dataDir, f));
      }
    }
    const opts: Parameters<typeof startHub>[0] = { dataDir, adminToken: this.adminToken, ...rest };
    if (this.opts.database) opts.database = this.opts.database;
    const clockStart = more.clockStart ?? this.opts.clockStart;
    if (clockStart) opts.clockStart = clockStart;
    if (port !== undefined) opts.port = port;
    if (extraArgs) opts.extraArgs = extraArgs;
    this.hub = await startHub(opts);
    this.hubs.push(this.hub);
    return this.hub;
  }

  async addStore(id: string): Promise<string> {
    const key = await addStore(this.hub, id);
    this.keys.set(id, key);
    return key;
  }

  /** `clockStart` here starts this agent's clock elsewhere than the world's. */
  async startAgent(store: string, name = store, overrides?: AgentSpec['overrides'], waitForHub = true, more: { clockStart?: string } = {}): Promise<AgentHandle> {
    const spec: AgentSpec = { dir: join(this.dir, `agent-${name}`), store, apiKey: this.keys.get(store)!, hubWsUrl: this.hub.wsUrl };
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

  async close(): Promise<void> {
    await Promise.all(this.agents.map((a) => a.proc.stop()));
    await Promise.all(this.hubs.map((h) => h.proc.stop()));
    dropTestDatabase(this.hubData); // on PostgreSQL: the test database initHub made
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** DESIGN rules 4 and 5, checked on the hub's database. Returns the violations (none expected). */
export function invariantViolations(w: World): { overReturned: unknown[]; ledgerDrift: unknown[] } {
  const overReturned = w.hubQuery(
    `SELECT sl.store, sl.receipt, sl.line, sl.qty, u.used FROM sale_lines sl
       JOIN (SELECT r.sale_store, r.receipt, rl.line,
                    SUM(CASE WHEN r.status = 'completed' THEN rl.completed_qty WHEN r.status = 'reserved' THEN rl.approved_qty ELSE 0 END) AS used
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

export const sale = (id: string, receipt: string, lines: { sku: string; qty: number; unitPrice: number }[], pan?: string) => ({
  type: 'sale',
  id,
  receipt,
  at: new Date().toISOString(),
  currency: 'EUR',
  lines: lines.map((l, i) => ({ line: i + 1, ...l })),
  tenders: [{ kind: pan ? 'card' : 'cash', amount: lines.reduce((t, l) => t + l.qty * l.unitPrice, 0), ...(pan ? { pan } : {}) }],
});

export type Decision = { type: string; decision: string; mode: string; authorization: string; lines: { line: number; approvedQty: number; code: string }[]; reason?: string };
