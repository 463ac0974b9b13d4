/**
 * `npm run bench:presence`: many simulated store agents doing the real handshake against one real
 * hub process (127.0.0.1 only), while `GET /healthz` is probed from a worker thread, one request at
 * a time, every 20 ms. Three phases:
 *   - first connections: every agent asks for a token, connects, says hello, reports its register,
 *     a heartbeat and its inventory digest (BENCH_CONCURRENCY at a time);
 *   - a reconnect storm: every connection dropped, every agent connecting again at once;
 *   - heartbeats: every agent sends one each BENCH_HEARTBEAT_MS (1 000 agents every 3 s is the
 *     rate of 5 000 agents every 15 s) for BENCH_SECONDS.
 * Prints, per phase, the hub's fsync + fdatasync calls and the time spent in them (`perf trace -s`
 * on the hub's process, where perf can), its synced and relaxed commits (its metrics, when it has
 * them), the /healthz latency (p50, p99, worst) and the worst delay of the hub's event loop (its
 * own metric). The driver shares the machine with the hub: on 2 vCPUs, /healthz also waits for it.
 *
 * BENCH_AGENTS (default 1000), BENCH_CONCURRENCY (50), BENCH_HEARTBEAT_MS (3000), BENCH_SECONDS (20).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import got from 'got';
import { addStore, initHub, startHub, type HubHandle } from '@tillbridge/scripts/lib/cluster';
import { withCleanups } from './cleanups.js';
import { SimAgent } from './sim-agent.js';
import { pool } from './pool.js';
import { machine as machineLine, ms, summarize } from './stats.js';

const AGENTS = Number(process.env.BENCH_AGENTS ?? 1000);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 50);
const HEARTBEAT_MS = Number(process.env.BENCH_HEARTBEAT_MS ?? 3000);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 20);

/** GET /healthz one at a time every 20 ms, on its own thread (the agents' work here does not delay it). */
const PROBE = `
const { parentPort, workerData } = require('node:worker_threads');
const { request } = require('node:http');
const { performance } = require('node:perf_hooks');
const samples = [];
let phase = 'idle';
let stop = false;
parentPort.on('message', (m) => {
  if (m === 'stop') stop = true;
  else { parentPort.postMessage({ phase, samples: samples.splice(0) }); phase = m; }
});
const once = () => new Promise((resolve) => {
  const t = performance.now();
  const req = request(workerData.url + '/healthz', (res) => {
    res.resume();
    res.on('end', () => resolve(performance.now() - t));
  });
  req.on('error', () => resolve(performance.now() - t));
  req.end();
});
(async () => {
  while (!stop) {
    samples.push(await once());
    await new Promise((r) => setTimeout(r, 20));
  }
  parentPort.postMessage({ phase, samples, done: true });
})();
`;

/**
 * Counts the hub's fsync and fdatasync calls while it runs, and the time its threads spent in them
 * (`perf trace -s`); undefined where perf cannot.
 */
function countSyncs(pid: number | undefined): { stop: () => Promise<{ calls: number; ms: number } | undefined> } {
  let perf: ChildProcess | undefined;
  let out = '';
  try {
    if (pid === undefined) throw new Error('the hub has no pid');
    const child = spawn('perf', ['trace', '-s', '-e', 'fsync,fdatasync', '-p', String(pid)], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    perf = child;
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.on('error', () => (perf = undefined));
  } catch {
    perf = undefined;
  }
  return {
    stop: async () => {
      if (!perf) return undefined;
      const p = perf;
      const exited = new Promise((r) => p.once('exit', r));
      p.kill('SIGINT');
      await exited;
      if (process.env.BENCH_DEBUG) process.stderr.write(out);
      if (!out.includes('Summary of events')) return undefined;
      let calls = 0;
      let ms = 0;
      for (const m of out.matchAll(/^\s+(?:fsync|fdatasync)\s+(\d+)\s+\d+\s+([\d.]+)/gm)) {
        calls += Number(m[1]);
        ms += Number(m[2]);
      }
      return { calls, ms };
    },
  };
}

/**
 * The hub's own figures: its commits (a hub with the counter) and its event loop's worst delay since the last scrape
 * (prom-client resets it).
 */
async function scrape(
  hub: HubHandle,
): Promise<{ commits: { full: number; normal: number } | undefined; loopMaxMs: number | undefined }> {
  const text = await got(`${hub.url}/metrics`, { retry: { limit: 0 } }).text();
  const read = (name: string): number | undefined => {
    const m = new RegExp(`^${name.replace(/[{}]/g, (c) => `\\${c}`)} (\\S+)$`, 'm').exec(text);
    return m ? Number(m[1]) : undefined;
  };
  const full = read('tillbridge_hub_db_commits_total{sync="full"}');
  const normal = read('tillbridge_hub_db_commits_total{sync="normal"}');
  const lag = read('tillbridge_hub_nodejs_eventloop_lag_max_seconds');
  return {
    commits: full === undefined || normal === undefined ? undefined : { full, normal },
    loopMaxMs: lag === undefined ? undefined : lag * 1000,
  };
}

interface PhaseContext {
  hub: HubHandle;
  /** the worker probing /healthz, told each phase's name */
  probe: Worker;
  /** the probe's samples, by phase */
  probeResults: Map<string, number[]>;
  /** each phase's figures, by name (written here) */
  results: Record<string, unknown>;
}

/** Runs a phase while the probe, perf and the hub's metrics measure it; its figures, printed and kept. */
async function measurePhase(ctx: PhaseContext, name: string, run: () => Promise<void>): Promise<void> {
  const { hub, probe, probeResults, results } = ctx;
  probe.postMessage(name);
  const syncs = countSyncs(hub.proc.proc.pid);
  await new Promise((r) => setTimeout(r, 200)); // perf attached
  const { commits: c0 } = await scrape(hub);
  const t0 = performance.now();
  await run();
  const wall = performance.now() - t0;
  const { commits: c1, loopMaxMs } = await scrape(hub);
  const fsyncs = await syncs.stop();
  probe.postMessage(`${name}:after`);
  await new Promise((r) => setTimeout(r, 100));
  const h = summarize(probeResults.get(name) ?? []);
  const worst = Math.max(...(probeResults.get(name) ?? [NaN]));
  const full = c0 && c1 ? c1.full - c0.full : undefined;
  const normal = c0 && c1 ? c1.normal - c0.normal : undefined;
  results[name] = {
    wallMs: wall,
    fsyncs,
    commits: full === undefined ? undefined : { full, normal },
    healthz: { ...h, max: worst },
    hubLoopMaxMs: loopMaxMs,
  };
  const perSecond = (n: number | undefined): string =>
    n === undefined ? 'n/a' : `${n} (${(n / (wall / 1000)).toFixed(0)}/s)`;
  const inSync =
    fsyncs === undefined
      ? 'n/a'
      : `${perSecond(fsyncs.calls)}, ${fsyncs.ms.toFixed(0)} ms in them (${((100 * fsyncs.ms) / wall).toFixed(1)} % ` +
        `of the phase)`;
  process.stdout.write(
    `${name}: ${(wall / 1000).toFixed(1)} s; fsync+fdatasync ${inSync}; commits synced ${perSecond(full)}, relaxed ` +
      `${perSecond(normal)}\n` +
      `  /healthz p50 ${ms(h.p50)}, p99 ${ms(h.p99)}, worst ${ms(worst)} (n=${h.n}); the hub's event loop: worst ` +
      `delay ${loopMaxMs === undefined ? 'n/a' : ms(loopMaxMs)}\n`,
  );
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'tb-bench-presence-'));
  const machine = machineLine();
  process.stdout.write(
    `Tillbridge presence benchmark — ${new Date().toISOString()}\n${machine}\n${AGENTS} agents; heartbeats every ` +
      `${HEARTBEAT_MS} ms for ${SECONDS} s\n\n`,
  );
  const results: Record<string, unknown> = { machine, agents: AGENTS };
  await withCleanups(dir, async (cleanups) => {
    const adminToken = await initHub(join(dir, 'hub'));
    const hub = await startHub({ dataDir: join(dir, 'hub'), adminToken });
    cleanups.push(() => hub.proc.stop(30_000));
    const agents: SimAgent[] = [];
    for (let i = 0; i < AGENTS; i++)
      agents.push(
        new SimAgent({ url: hub.url, wsUrl: hub.wsUrl, store: `P${i + 1}`, apiKey: await addStore(hub, `P${i + 1}`) }),
      );
    cleanups.push(() => agents.forEach((a) => a.drop()));

    const probe = new Worker(PROBE, { eval: true, workerData: { url: hub.url } });
    cleanups.push(() => probe.terminate());
    const probeResults = new Map<string, number[]>();
    probe.on('message', (m: { phase: string; samples: number[] }) =>
      probeResults.set(m.phase, [...(probeResults.get(m.phase) ?? []), ...m.samples]),
    );

    const phase = (name: string, run: () => Promise<void>): Promise<void> =>
      measurePhase({ hub, probe, probeResults, results }, name, run);
    await phase('first connections', () => pool(agents, CONCURRENCY, (a) => a.connect()));
    for (const a of agents) a.drop();
    await new Promise((r) => setTimeout(r, 1000)); // the hub sees them go
    await phase('reconnect storm', async () => {
      await Promise.all(agents.map((a) => a.connect()));
    });
    await phase('heartbeats', async () => {
      const timers = agents.map((a, i) => {
        let t: NodeJS.Timeout | undefined;
        const start = setTimeout(
          () => {
            a.heartbeat();
            t = setInterval(() => a.heartbeat(), HEARTBEAT_MS);
          },
          (i * HEARTBEAT_MS) / agents.length,
        );
        return () => {
          clearTimeout(start);
          if (t) clearInterval(t);
        };
      });
      await new Promise((r) => setTimeout(r, SECONDS * 1000));
      timers.forEach((stop) => stop());
      await Promise.all(agents.map((a) => a.handled()));
    });
    probe.postMessage('stop');
  });
  if (process.argv.includes('--json')) process.stdout.write(`\n${JSON.stringify(results, null, 2)}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${(err as Error).stack}\n`);
  process.exit(1);
});
