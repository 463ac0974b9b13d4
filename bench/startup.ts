/**
 * Start-up figures beside their floor, `node -e 0`, measured interleaved in the same run (A B A B …, medians):
 * CLI calls that only talk to the admin API, the agent until its register ports are open, and the agent's
 * resident memory once idle.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { WebSocketServer } from 'ws';
import { performance } from 'node:perf_hooks';
import { addStore, startAgent, type HubHandle } from '@tillbridge/scripts/lib/cluster';
import { AGENT_BIN, HUB_BIN, ROOT } from '@tillbridge/scripts/lib/paths';
import { runCommand } from '@tillbridge/scripts/lib/process';
import { APPS, bundleApp } from '@tillbridge/scripts/lib/release';

import type { Cleanups } from './cleanups.js';
import { withFloorProcesses } from './floor.js';
import { ms, summarize, type Summary } from './stats.js';

const RUNS = Number(process.env.BENCH_STARTUP_RUNS ?? 9);
const MB = 1024 * 1024;

async function wallMs(args: string[], env: NodeJS.ProcessEnv = {}): Promise<number> {
  const t = performance.now();
  const r = await runCommand(process.execPath, args, env);
  const took = performance.now() - t;
  if (r.code !== 0) throw new Error(`${args.join(' ')} exited ${String(r.code)}: ${r.stderr}`);
  return took;
}

/**
 * Resident memory of a running process, from /proc (Linux): all of it, the part that is the process's own (anonymous:
 * its heaps) and the part that is file pages (node's binary and the libraries, shared with every node process).
 */
interface Resident {
  rss: number;
  anon: number;
  file: number;
}

function residentOf(pid: number): Resident | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (field: string): number =>
      Number(new RegExp(`^${field}:\\s+(\\d+) kB$`, 'm').exec(status)?.[1] ?? NaN) * 1024;
    const r = { rss: kb('VmRSS'), anon: kb('RssAnon'), file: kb('RssFile') };
    return Number.isNaN(r.rss) ? undefined : r;
  } catch {
    return undefined;
  }
}

const mb = (r: Resident): string =>
  `${(r.rss / MB).toFixed(1)} MB (own ${(r.anon / MB).toFixed(1)}, file pages ${(r.file / MB).toFixed(1)})`;

/** The floor of idle memory: a node process that does nothing, 3 s after it started. */
async function idleNodeResident(): Promise<Resident | undefined> {
  const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
  try {
    await new Promise((r) => setTimeout(r, 3000));
    return child.pid === undefined ? undefined : residentOf(child.pid);
  } finally {
    child.kill('SIGKILL');
  }
}

/**
 * The floor of the agent's shape: node using the packages the agent is built on, idle (floor-idle-agent.ts), 3 s after
 * it said ready.
 */
async function idlePackagesResident(): Promise<Resident | undefined> {
  // the hub's side of its WebSocket: an echo server in this process
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  wss.on('connection', (s) => s.on('message', (m: Buffer) => s.send(m)));
  await new Promise<void>((r) => wss.once('listening', () => r()));
  const url = `ws://127.0.0.1:${String((wss.address() as { port: number }).port)}`;
  try {
    return await withFloorProcesses(async (start, dir) => {
      const floor = await start('./floor-idle-agent.js', [dir, url]);
      await new Promise((r) => setTimeout(r, 3000));
      return floor.pid === undefined ? undefined : residentOf(floor.pid);
    });
  } finally {
    await new Promise<void>((r) => wss.close(() => r()));
  }
}

const row = (label: string, s: Summary, floor: Summary, aimRatio: number): string =>
  `${label.padEnd(44)} p50 ${ms(s.p50).padStart(10)}   ratio to node -e 0: ${(s.p50 / floor.p50).toFixed(2)}× ` +
  `(aim ≤ ${aimRatio}×: ${s.p50 <= aimRatio * floor.p50 ? 'met' : 'NOT met'})\n`;

export async function startup(dir: string, hub: HubHandle, cleanups: Cleanups): Promise<Record<string, unknown>> {
  const env = { TILLBRIDGE_HUB_URL: hub.url, TILLBRIDGE_ADMIN_TOKEN: hub.adminToken };
  // what a package installs (npm run release's bundles), beside the programs of this checkout
  const [hubBundle, agentBundle] = await Promise.all([
    bundleApp(ROOT, APPS.hub, '0.0.0-bench', join(dir, 'bundle-hub')),
    bundleApp(ROOT, APPS.agent, '0.0.0-bench', join(dir, 'bundle-agent')),
  ]);
  const cases = {
    floor: ['-e', '0'],
    hubVersion: [HUB_BIN, '--version'],
    hubStoresList: [HUB_BIN, 'stores', 'list', '--json'],
    agentVersion: [AGENT_BIN, '--version'],
    packagedHubVersion: [hubBundle.main, '--version'],
    packagedHubStoresList: [hubBundle.main, 'stores', 'list', '--json'],
    packagedAgentVersion: [agentBundle.main, '--version'],
  };
  const samples = Object.fromEntries(Object.keys(cases).map((k) => [k, [] as number[]])) as Record<
    keyof typeof cases,
    number[]
  >;
  for (let i = 0; i < RUNS + 1; i++) {
    for (const [name, args] of Object.entries(cases) as [keyof typeof cases, string[]][]) {
      const took = await wallMs(args, env);
      if (i > 0) samples[name].push(took);
    }
  }
  const [floor, hubVersion, hubStoresList, agentVersion] = [
    summarize(samples.floor),
    summarize(samples.hubVersion),
    summarize(samples.hubStoresList),
    summarize(samples.agentVersion),
  ];
  const packaged = {
    hubVersion: summarize(samples.packagedHubVersion),
    hubStoresList: summarize(samples.packagedHubStoresList),
    agentVersion: summarize(samples.packagedAgentVersion),
  };
  process.stdout.write(`\n${'floor: node -e 0'.padEnd(44)} p50 ${ms(floor.p50).padStart(10)}   (n=${floor.n})\n`);
  process.stdout.write(row('tillbridge-hub --version', hubVersion, floor, 2));
  process.stdout.write(row('tillbridge-hub stores list (admin API)', hubStoresList, floor, 2));
  process.stdout.write(row('tillbridge-agent --version', agentVersion, floor, 2));
  process.stdout.write(row('packaged tillbridge-hub --version', packaged.hubVersion, floor, 2));
  process.stdout.write(row('packaged tillbridge-hub stores list', packaged.hubStoresList, floor, 2));
  process.stdout.write(row('packaged tillbridge-agent --version', packaged.agentVersion, floor, 2));

  const agents = [
    { label: 'agent', store: 'B9', bin: undefined },
    { label: 'packaged agent', store: 'B8', bin: agentBundle.main },
  ];
  const idleFloor = await idleNodeResident();
  process.stdout.write(`${'floor: node idle RSS (3 s after)'.padEnd(44)} ${idleFloor ? mb(idleFloor) : 'n/a'}\n`);
  const packagesFloor = await idlePackagesResident();
  process.stdout.write(
    `${"floor: node + the agent's packages, idle".padEnd(44)} ${packagesFloor ? mb(packagesFloor) : 'n/a'}` +
      `   (better-sqlite3, ws, pino, commander and one time zone in use; no agent code)\n`,
  );
  const started: Record<string, AgentStartup> = {};
  for (const a of agents) started[a.label] = await agentStartup(dir, hub, cleanups, a, idleFloor, packagesFloor);
  return { floor, hubVersion, hubStoresList, agentVersion, packaged, idleFloor, packagesFloor, agents: started };
}

interface AgentStartup {
  readyMs: number;
  idleRssBytes: number | undefined;
  idle: Resident | undefined;
}

/** One agent, from spawn until its register port is open, then its resident memory once idle. */
async function agentStartup(
  dir: string,
  hub: HubHandle,
  cleanups: Cleanups,
  a: { label: string; store: string; bin: string | undefined },
  idleFloor: Resident | undefined,
  packagesFloor: Resident | undefined,
): Promise<AgentStartup> {
  const apiKey = await addStore(hub, a.store);
  const t = performance.now();
  const agent = await startAgent(
    {
      dir: join(dir, `agent-startup-${a.store}`),
      store: a.store,
      apiKey,
      hubWsUrl: hub.wsUrl,
      registers: [{ id: 'R1' }],
      ...(a.bin === undefined ? {} : { bin: a.bin }),
    },
    false,
  );
  const readyMs = performance.now() - t;
  cleanups.push(() => agent.proc.stop());
  await agent.proc.waitForLine((l) => l.msg === 'connected to the hub');
  await new Promise((r) => setTimeout(r, 3000));
  const idle = agent.proc.proc.pid === undefined ? undefined : residentOf(agent.proc.proc.pid);
  process.stdout.write(
    `${`${a.label} ready (register port open)`.padEnd(44)} ${ms(readyMs).padStart(14)}   (aim ≤ 500 ms: ` +
      `${readyMs <= 500 ? 'met' : 'NOT met'}; one run, from spawn)\n`,
  );
  const beyond =
    idle && idleFloor
      ? `; beyond node idle: own +${((idle.anon - idleFloor.anon) / MB).toFixed(1)}, ` +
        `file pages +${((idle.file - idleFloor.file) / MB).toFixed(1)}`
      : '';
  const beyondPackages =
    idle && packagesFloor
      ? `; beyond its packages' floor: +${((idle.rss - packagesFloor.rss) / MB).toFixed(1)} MB`
      : '';
  process.stdout.write(
    `${`${a.label} idle RSS (connected, 3 s after)`.padEnd(44)} ${idle ? mb(idle) : 'n/a'}` +
      `   (aim ≤ 60 MB: ${idle !== undefined && idle.rss <= 60 * MB ? 'met' : 'NOT met'}${beyond}${beyondPackages})\n`,
  );
  await agent.proc.stop();
  return { readyMs, idleRssBytes: idle?.rss, idle };
}
