/**
 * `npm run bench:import`: a large inventory import (`POST /v1/admin/inventory/import`, the file
 * streamed from disk) against a real hub process, while the hub is probed the way stores and
 * load balancers use it:
 *   - `GET /healthz`, one request at a time, every 50 ms;
 *   - online return authorizations through a real agent (register → agent → hub), every 100 ms.
 * Prints the import's wall time, the probes' latency (p50, p99, worst), how many return requests
 * fell back to offline, and the hub's peak RSS (VmHWM, Linux). With --json, the figures as JSON.
 *
 * BENCH_IMPORT_ROWS (default 3 000 000) rows over BENCH_IMPORT_STORES (default 10) stores; the
 * generated CSV is about 17 bytes a row (3 M rows ≈ 51 MB) and is removed at the end.
 */
import { createReadStream, createWriteStream, mkdtempSync, readFileSync, statSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { once } from 'node:events';
import { addStore, agentStatus, initHub, startAgent, startHub, type HubHandle } from '@tillbridge/scripts/lib/cluster';
import { JsonLinesRegister } from '@tillbridge/scripts/lib/register-client';
import { machine, ms, summarize } from './stats.js';
import { withCleanups, type Cleanups } from './cleanups.js';
import { registerSale } from './sales.js';

const ROWS = Number(process.env.BENCH_IMPORT_ROWS ?? 3_000_000);
const STORES = Number(process.env.BENCH_IMPORT_STORES ?? 10);
const SALES = 3000; // receipts to return against, one return each

async function writeCsv(file: string): Promise<number> {
  const out = createWriteStream(file);
  const perStore = Math.ceil(ROWS / STORES);
  let buf = 'store,sku,qty\n';
  for (let i = 0; i < ROWS; i++) {
    const store = `B${(i % STORES) + 1}`;
    buf += `${store},SKU-${String(Math.floor(i / STORES) % perStore).padStart(6, '0')},${(i * 7) % 500}\n`;
    if (buf.length > 1 << 20) {
      if (!out.write(buf)) await once(out, 'drain');
      buf = '';
    }
  }
  out.end(buf);
  await once(out, 'finish');
  return statSync(file).size;
}

function peakRssMiB(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : undefined;
  } catch {
    return undefined;
  }
}

/** A GET without any client-side timeout (fetch gives up after 300 s without headers). */
function getText(url: string, token?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers: token ? { authorization: `Bearer ${token}` } : {} }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve(res.statusCode === 200 ? body : ''));
    });
    req.on('error', reject);
    req.end();
  });
}

function postFile(url: string, token: string, file: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method: 'POST',
        headers: {
          authorization: `Bearer ${token}`,
          'content-type': 'text/csv',
          'content-length': statSync(file).size,
        },
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on('error', reject);
    createReadStream(file).pipe(req);
  });
}

/** A hub with STORES stores, and B1's agent with a register that has sold SALES receipts, all at the hub by now. */
async function startCluster(dir: string, cleanups: Cleanups): Promise<Cluster> {
  const adminToken = await initHub(join(dir, 'hub'));
  const hub = await startHub({ dataDir: join(dir, 'hub'), adminToken });
  cleanups.push(() => hub.proc.stop(30_000));
  let apiKey = '';
  for (let s = 1; s <= STORES; s++) {
    const k = await addStore(hub, `B${s}`);
    if (s === 1) apiKey = k;
  }
  const agent = await startAgent({ dir: join(dir, 'agent'), store: 'B1', apiKey, hubWsUrl: hub.wsUrl });
  cleanups.push(() => agent.proc.stop());
  const reg = await JsonLinesRegister.connect(agent.port('R1'));
  cleanups.push(() => reg.close());
  for (let i = 0; i < SALES; i++) await reg.send(registerSale(`is-${i}`, `IS-${i}`, 'RET-1'));
  // wait until the hub has every sale (an authorization waits for them anyway)
  for (;;) {
    const st = await agentStatus(agent);
    if (st.outbox.depth === 0) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  return { hub, adminToken, reg };
}

interface Cluster {
  hub: HubHandle;
  adminToken: string;
  reg: JsonLinesRegister;
}

/** `GET /healthz` every 50 ms while `importing()`: each one's ms, and how many the hub dropped. */
async function probeHealth(hubUrl: string, importing: () => boolean): Promise<{ ms: number[]; failed: number }> {
  const health: number[] = [];
  let failed = 0;
  while (importing()) {
    const t = performance.now();
    // a probe the hub drops (connection reset) counts with the time it took to fail
    await getText(`${hubUrl}/healthz`).catch(() => failed++);
    health.push(performance.now() - t);
    await new Promise((res) => setTimeout(res, 50));
  }
  return { ms: health, failed };
}

/** A return request every 100 ms while `importing()`: each one's ms, and how many were answered offline. */
async function probeAuthorizations(
  reg: JsonLinesRegister,
  importing: () => boolean,
): Promise<{ ms: number[]; offline: number }> {
  const authz: number[] = [];
  let offline = 0;
  for (let n = 0; importing() && n < SALES; n++) {
    const t = performance.now();
    const d = await reg.send<{ mode: string }>(
      { type: 'return.request', id: `ir-${n}`, receipt: `IS-${n}`, lines: [{ line: 1, qty: 1 }] },
      60_000,
    );
    authz.push(performance.now() - t);
    if (d.mode !== 'online') offline++;
    await new Promise((res) => setTimeout(res, 100));
  }
  return { ms: authz, offline };
}

/** When each step of import `id` began (ms after `t0`), as the hub reports it (404 without the progress endpoint). */
async function probeSteps(
  cluster: Cluster,
  id: string,
  t0: number,
  importing: () => boolean,
): Promise<Record<string, number>> {
  const steps: Record<string, number> = {};
  while (importing()) {
    const body = await getText(`${cluster.hub.url}/v1/admin/imports/${id}`, cluster.adminToken).catch(() => '');
    const state = body ? (JSON.parse(body) as { state: string }).state : undefined;
    if (state && steps[state] === undefined) steps[state] = performance.now() - t0;
    await new Promise((res) => setTimeout(res, 250));
  }
  return steps;
}

/** Imports the CSV while the probes run; the figures, printed. */
async function importProbed(cluster: Cluster, csv: string): Promise<Record<string, unknown>> {
  let importing = true;
  const stillImporting = (): boolean => importing;
  const healthProbe = probeHealth(cluster.hub.url, stillImporting);
  const authzProbe = probeAuthorizations(cluster.reg, stillImporting);
  const id = `bench-${Date.now()}`;
  const t0 = performance.now();
  const stepProbe = probeSteps(cluster, id, t0, stillImporting);
  const res = await postFile(`${cluster.hub.url}/v1/admin/inventory/import?id=${id}`, cluster.adminToken, csv);
  const wall = performance.now() - t0;
  importing = false;
  const [health, authz, steps] = await Promise.all([healthProbe, authzProbe, stepProbe]);
  if (res.status !== 200) throw new Error(`import answered HTTP ${res.status}: ${res.body}`);
  const h = summarize(health.ms);
  const a = summarize(authz.ms);
  const rss = peakRssMiB(cluster.hub.proc.proc.pid);
  process.stdout.write(
    `import: ${(wall / 1000).toFixed(1)} s (${Math.round(ROWS / (wall / 1000))} rows/s) → ${res.body}\n`,
  );
  process.stdout.write(
    `/healthz during it: p50 ${ms(h.p50)}, p99 ${ms(h.p99)}, worst ${ms(Math.max(...health.ms))} ` +
      `(n=${h.n}${health.failed ? `; ${health.failed} reset by the hub` : ''})\n`,
  );
  process.stdout.write(
    `online authorization during it: p50 ${ms(a.p50)}, p99 ${ms(a.p99)}, worst ${ms(Math.max(...authz.ms))} ` +
      `(n=${a.n}; ${authz.offline} answered offline)\n`,
  );
  process.stdout.write(`hub peak RSS: ${rss === undefined ? 'n/a' : `${rss.toFixed(0)} MiB`}\n`);
  if (steps.checking !== undefined && steps.applying !== undefined) {
    process.stdout.write(
      `steps: received in ${(steps.checking / 1000).toFixed(1)} s, checked in ` +
        `${((steps.applying - steps.checking) / 1000).toFixed(1)} s, applied in ` +
        `${((wall - steps.applying) / 1000).toFixed(1)} s (±0.25 s)\n`,
    );
  }
  return {
    wallMs: wall,
    result: JSON.parse(res.body) as unknown,
    healthz: { ...h, max: Math.max(...health.ms), failed: health.failed },
    authorization: { ...a, max: Math.max(...authz.ms), offline: authz.offline },
    hubPeakRssMiB: rss,
    stepsStartedMs: steps,
  };
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'tb-bench-import-'));
  const date = new Date().toISOString();
  const out: Record<string, unknown> = { date, machine: machine(), rows: ROWS, stores: STORES };
  process.stdout.write(`Tillbridge import benchmark — ${date}\n${machine()}\n\n`);
  await withCleanups(dir, async (cleanups) => {
    const csv = join(dir, 'stock.csv');
    const bytes = await writeCsv(csv);
    out.bytes = bytes;
    process.stdout.write(`generated ${ROWS} rows over ${STORES} stores (${(bytes / 2 ** 20).toFixed(1)} MiB)\n`);
    const cluster = await startCluster(dir, cleanups);
    Object.assign(out, await importProbed(cluster, csv));
  });
  if (process.argv.includes('--json')) process.stdout.write(`\n${JSON.stringify(out, null, 2)}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${(err as Error).stack}\n`);
  process.exit(1);
});
