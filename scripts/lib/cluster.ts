import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createTestDatabase, testBackend, type TestDatabase } from './pg-test-db.js';
import { join } from 'node:path';
import got from 'got';
import { AdminClient } from '@tillbridge/central';
import { TEST_CLOCK_ENV } from '@tillbridge/shared';
import { AGENT_BIN, HUB_BIN } from './paths.js';
import { JsonLogProcess, runCommand } from './process.js';

/**
 * Real hub and agent processes for the demo, the end-to-end tests and the benchmark: the same
 * binaries a store or an operator runs, on 127.0.0.1, with SQLite files in `dir`.
 */

export interface HubHandle {
  dataDir: string;
  url: string;
  wsUrl: string;
  port: number;
  adminToken: string;
  admin: AdminClient;
  proc: JsonLogProcess;
  /** The process's temporary folder (its TMPDIR: an import's spool), removed once it has exited. */
  tmpDir: string;
  /** Runs `tillbridge-hub ARGS` against this hub and returns its exit code and output. */
  cli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }>;
}

/** The PostgreSQL database of each test hub's data directory (TILLBRIDGE_TEST_BACKEND=postgres). */
const testDatabases = new Map<string, TestDatabase>();

/** The hub's `--database` arguments for a data directory: none on SQLite. */
export function databaseArgs(dataDir: string): string[] {
  const db = testDatabases.get(dataDir);
  return db ? ['--database', db.url] : [];
}

/** Drops the database the test hub of `dataDir` was given, if any (its processes stopped first). */
export function dropTestDatabase(dataDir: string): void {
  const db = testDatabases.get(dataDir);
  if (!db) return;
  testDatabases.delete(dataDir);
  db.drop();
}

/**
 * Drops the databases the test hubs made (also tried when the process exits, which a test runner
 * that ends its workers by a signal skips: World.close drops its own).
 */
export function dropTestDatabases(): void {
  for (const [dir, db] of testDatabases) {
    testDatabases.delete(dir);
    try {
      db.drop();
    } catch {
      /* the server went away: nothing to drop */
    }
  }
}
process.once('exit', dropTestDatabases);

/** `database`: this PostgreSQL URL (made by the caller) instead of the test run's engine. */
export async function initHub(dataDir: string, database?: string): Promise<string> {
  if (!database && testBackend() === 'postgres' && !testDatabases.has(dataDir))
    testDatabases.set(dataDir, createTestDatabase());
  const dbArgs = database ? ['--database', database] : databaseArgs(dataDir);
  const r = await runCommand(process.execPath, [HUB_BIN, 'init', '--data', dataDir, ...dbArgs, '--json']);
  if (r.code !== 0) throw new Error(`hub init failed: ${r.stderr}`);
  return (JSON.parse(r.stdout) as { adminToken: string }).adminToken;
}

/** The environment that starts a process's clock at `clockStart` (an ISO instant), or none. */
function clockEnv(clockStart: string | undefined): NodeJS.ProcessEnv {
  return clockStart ? { [TEST_CLOCK_ENV]: clockStart } : {};
}

/** `database`: this PostgreSQL URL instead of the test run's engine (several hub processes on one database). */
export async function startHub(opts: {
  dataDir: string;
  adminToken: string;
  port?: number;
  extraArgs?: string[];
  echo?: boolean;
  detached?: boolean;
  host?: string;
  ca?: string;
  clockStart?: string;
  database?: string;
  name?: string;
}): Promise<HubHandle> {
  const dbArgs = opts.database ? ['--database', opts.database] : databaseArgs(opts.dataDir);
  // The hub's temporary files (an import's spool) in a folder of its own, removed once the process has exited however
  // it ended: a test that kills a hub with SIGKILL in the middle of an import leaves nothing in the machine's temp
  // directory (the spool is encrypted under a key that died with the process: all that is left is its size on disk).
  const hubTmp = mkdtempSync(join(tmpdir(), 'tb-hub-tmp-'));
  const proc = JsonLogProcess.spawn(
    opts.name ?? 'hub',
    process.execPath,
    [
      ...profilingArgs(),
      HUB_BIN,
      'serve',
      '--data',
      opts.dataDir,
      ...dbArgs,
      '--listen',
      `${opts.host ?? '127.0.0.1'}:${opts.port ?? 0}`,
      ...(opts.extraArgs ?? []),
    ],
    { ...clockEnv(opts.clockStart), TMPDIR: hubTmp },
    opts.echo,
    opts.detached,
  );
  void proc.exited.then(() => rmSync(hubTmp, { recursive: true, force: true }));
  const line = await proc.startedOrStopped(() => proc.waitForLine((l) => l.msg === 'hub listening'));
  const url = line.url as string;
  const port = Number(new URL(url).port);
  const env: NodeJS.ProcessEnv = { TILLBRIDGE_HUB_URL: url, TILLBRIDGE_ADMIN_TOKEN: opts.adminToken };
  const database = dbArgs[1];
  if (database) env.TILLBRIDGE_HUB_DATABASE = database;
  if (opts.ca) env.TILLBRIDGE_HUB_CA = opts.ca;
  return {
    dataDir: opts.dataDir,
    url,
    wsUrl: line.ws as string,
    port,
    adminToken: opts.adminToken,
    admin: new AdminClient(url, opts.adminToken, opts.ca ? readFileSync(opts.ca) : undefined),
    proc,
    tmpDir: hubTmp,
    cli: (args) => runCommand(process.execPath, [HUB_BIN, ...args], env),
  };
}

export interface AgentHandle {
  configFile: string;
  dataDir: string;
  proc: JsonLogProcess;
  /** Bound port of each tcp-server register. */
  ports: Map<string, number>;
  port(register?: string): number;
  statusUrl: string;
  cli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }>;
}

export interface AgentSpec {
  dir: string;
  store: string;
  apiKey: string;
  /** The hub's ws:// URL (written as hub.url), or several (hub.urls, tried in turn). */
  hubWsUrl: string | string[];
  registers?: { id: string; port?: number }[];
  /** Merged over the generated config. */
  overrides?: Record<string, unknown>;
  echo?: boolean;
  detached?: boolean;
  /** Start the agent's clock at this ISO instant (end-to-end tests on fixed dates). */
  clockStart?: string;
  /** The program to run instead of this checkout's (a packaged bundle's tillbridge-agent.mjs). */
  bin?: string;
}

export function agentConfig(spec: AgentSpec): Record<string, unknown> {
  const base: Record<string, unknown> = {
    store: spec.store,
    dataDir: join(spec.dir, 'data'),
    hub: {
      ...(typeof spec.hubWsUrl === 'string' ? { url: spec.hubWsUrl } : { urls: spec.hubWsUrl }),
      apiKey: spec.apiKey,
      reconnectBaseMs: 100,
      reconnectCapMs: 1000,
      heartbeatMs: 2000,
    },
    registers: (spec.registers ?? [{ id: 'R1' }]).map((r) => ({
      id: r.id,
      transport: { type: 'tcp-server', host: '127.0.0.1', port: r.port ?? 0 },
      codec: 'jsonl',
    })),
    status: { listen: '127.0.0.1:0' },
  };
  for (const [k, v] of Object.entries(spec.overrides ?? {})) {
    const generated = base[k];
    base[k] =
      v && typeof v === 'object' && !Array.isArray(v) && typeof generated === 'object' ? { ...generated, ...v } : v;
  }
  return base;
}

export async function startAgent(spec: AgentSpec, waitForHub = true): Promise<AgentHandle> {
  mkdirSync(spec.dir, { recursive: true });
  const configFile = join(spec.dir, 'agent.json');
  const config = agentConfig(spec);
  // the config holds the store's API key: the owner's alone, like a real install's
  writeFileSync(configFile, JSON.stringify(config, null, 2), { mode: 0o600 });
  chmodSync(configFile, 0o600);
  const proc = JsonLogProcess.spawn(
    `agent ${spec.store}`,
    process.execPath,
    [...profilingArgs(), spec.bin ?? AGENT_BIN, 'run', '--config', configFile],
    clockEnv(spec.clockStart),
    spec.echo,
    spec.detached,
  );
  const started = await proc.startedOrStopped(async () => {
    const line = await proc.waitForLine((l) => l.msg === 'agent started');
    if (waitForHub) await proc.waitForLine((l) => l.msg === 'connected to the hub');
    return line;
  });
  const ports = new Map<string, number>();
  for (const l of proc.lines) {
    if (l.msg === 'register endpoint ready' && typeof l.at === 'string')
      ports.set(l.register as string, Number(new URL(l.at).port));
  }
  return {
    configFile,
    dataDir: config.dataDir as string,
    proc,
    ports,
    port: (r = 'R1') => {
      const p = ports.get(r);
      if (p === undefined) throw new Error(`no port for register ${r}`);
      return p;
    },
    statusUrl: started.status as string,
    cli: (args) => runCommand(process.execPath, [spec.bin ?? AGENT_BIN, ...args]),
  };
}

/** A store created at the hub, with its API key. */
export async function addStore(hub: HubHandle, id: string, name?: string): Promise<string> {
  const r = await hub.admin.post<{ apiKey: string }>('/v1/admin/stores', { id, name: name ?? id });
  return r.apiKey;
}

export async function setStock(hub: HubHandle, store: string, sku: string, qty: number): Promise<void> {
  await hub.admin.put(`/v1/admin/stores/${encodeURIComponent(store)}/inventory/${encodeURIComponent(sku)}`, { qty });
}

export async function onHand(hub: HubHandle, store: string, sku: string): Promise<number | undefined> {
  const rows = await hub.admin.get<{ onHand: number }[]>(
    `/v1/admin/stores/${encodeURIComponent(store)}/inventory?sku=${encodeURIComponent(sku)}`,
  );
  return rows[0]?.onHand;
}

export interface ReturnView {
  authorization: string;
  store: string;
  receipt: string;
  /** the store that issued the receipt */
  receiptStore: string | null;
  mode: string;
  decision: string;
  status: string;
  exception: string | null;
  reconciliation: string | null;
  lines: { line: number; requested: number; approved: number; completed: number; code: string }[];
}

interface ReturnsPage {
  returns: ReturnView[];
  /** the `after` of the next page; null: this was the last */
  next: string | null;
}

/** Every return ticket (of `store`), following GET /v1/admin/returns page by page. */
export async function returnsList(hub: HubHandle, store?: string): Promise<ReturnView[]> {
  const all: ReturnView[] = [];
  let after: string | null = null;
  do {
    const query: URLSearchParams = new URLSearchParams({
      limit: '1000',
      ...(store ? { store } : {}),
      ...(after ? { after } : {}),
    });
    const page: ReturnsPage = await hub.admin.get<ReturnsPage>(`/v1/admin/returns?${query.toString()}`);
    all.push(...page.returns);
    after = page.next;
  } while (after);
  return all;
}

/**
 * Extra node flags for the long-running hub and agent processes, from TILLBRIDGE_NODE_ARGS (space-separated),
 * e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof` to profile a benchmark (node refuses --cpu-prof in NODE_OPTIONS).
 */
function profilingArgs(): string[] {
  return (process.env.TILLBRIDGE_NODE_ARGS ?? '').split(' ').filter((a) => a !== '');
}

export interface AgentStatusView {
  outbox: { depth: number };
  hub: { connected: boolean };
  registers: { id: string; state: string }[];
}

/** The agent's status (its loopback endpoint), with got like the product's HTTP clients; no retry. */
export function agentStatus(agent: AgentHandle): Promise<AgentStatusView> {
  return got(`${agent.statusUrl}/status`, { retry: { limit: 0 } }).json<AgentStatusView>();
}
