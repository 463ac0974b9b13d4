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
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { once } from 'node:events';
import { addStore, initHub, startAgent, startHub } from '@tillbridge/scripts/lib/cluster';
import { JsonLinesRegister } from '@tillbridge/scripts/lib/register-client';
import { ms, summarize } from './stats.js';
import { withCleanups } from './cleanups.js';

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

function peakRssMiB(pid: number): number | undefined {
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

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'tb-bench-import-'));
  const out: Record<string, unknown> = {
    date: new Date().toISOString(),
    machine: `${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}, ${process.platform}`,
    rows: ROWS,
    stores: STORES,
  };
  process.stdout.write(`Tillbridge import benchmark — ${out.date}\n${out.machine}\n\n`);
  await withCleanups(dir, async (cleanups) => {
    const csv = join(dir, 'stock.csv');
    const bytes = await writeCsv(csv);
    out.bytes = bytes;
    process.stdout.write(`generated ${ROWS} rows over ${STORES} stores (${(bytes / 2 ** 20).toFixed(1)} MiB)\n`);

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
    cleanups.push(async () => reg.close());
    for (let i = 0; i < SALES; i++) {
      await reg.send({
        type: 'sale',
        id: `is-${i}`,
        receipt: `IS-${i}`,
        at: new Date().toISOString(),
        currency: 'EUR',
        lines: [{ line: 1, sku: 'RET-1', qty: 1, unitPrice: 1000 }],
        tenders: [],
      });
    }
    // wait until the hub has every sale (an authorization waits for them anyway)
    for (;;) {
      const st = (await (await fetch(`${agent.statusUrl}/status`)).json()) as { outbox: { depth: number } };
      if (st.outbox.depth === 0) break;
      await new Promise((r) => setTimeout(r, 100));
    }

    let importing = true;
    const health: number[] = [];
    let healthFailed = 0;
    const healthProbe = (async () => {
      while (importing) {
        const t = performance.now();
        // a probe the hub drops (connection reset) counts with the time it took to fail
        await getText(`${hub.url}/healthz`).catch(() => healthFailed++);
        health.push(performance.now() - t);
        await new Promise((res) => setTimeout(res, 50));
      }
    })();
    const authz: number[] = [];
    let offline = 0;
    let n = 0;
    const authzProbe = (async () => {
      while (importing && n < SALES) {
        const t = performance.now();
        const d = await reg.send<{ mode: string }>(
          { type: 'return.request', id: `ir-${n}`, receipt: `IS-${n}`, lines: [{ line: 1, qty: 1 }] },
          60_000,
        );
        n++;
        authz.push(performance.now() - t);
        if (d.mode !== 'online') offline++;
        await new Promise((res) => setTimeout(res, 100));
      }
    })();

    // when each step began, as the hub reports it (a hub without the progress endpoint answers 404)
    const id = `bench-${Date.now()}`;
    const steps: Record<string, number> = {};
    let t0 = performance.now();
    const stepProbe = (async () => {
      while (importing) {
        const body = await getText(`${hub.url}/v1/admin/imports/${id}`, adminToken).catch(() => '');
        const state = body ? (JSON.parse(body) as { state: string }).state : undefined;
        if (state && steps[state] === undefined) steps[state] = performance.now() - t0;
        await new Promise((res) => setTimeout(res, 250));
      }
    })();
    t0 = performance.now();
    const res = await postFile(`${hub.url}/v1/admin/inventory/import?id=${id}`, adminToken, csv);
    const wall = performance.now() - t0;
    importing = false;
    await Promise.all([healthProbe, authzProbe, stepProbe]);
    if (res.status !== 200) throw new Error(`import answered HTTP ${res.status}: ${res.body}`);
    const h = summarize(health);
    const a = summarize(authz);
    const rss = peakRssMiB(hub.proc.proc.pid!);
    Object.assign(out, {
      wallMs: wall,
      result: JSON.parse(res.body),
      healthz: { ...h, max: Math.max(...health), failed: healthFailed },
      authorization: { ...a, max: Math.max(...authz), offline },
      hubPeakRssMiB: rss,
      stepsStartedMs: steps,
    });
    process.stdout.write(
      `import: ${(wall / 1000).toFixed(1)} s (${Math.round(ROWS / (wall / 1000))} rows/s) → ${res.body}\n`,
    );
    process.stdout.write(
      `/healthz during it: p50 ${ms(h.p50)}, p99 ${ms(h.p99)}, worst ${ms(Math.max(...health))} (n=${h.n}${healthFailed ? `; ${healthFailed} reset by the hub` : ''})\n`,
    );
    process.stdout.write(
      `online authorization during it: p50 ${ms(a.p50)}, p99 ${ms(a.p99)}, worst ${ms(Math.max(...authz))} (n=${a.n}; ${offline} answered offline)\n`,
    );
    process.stdout.write(`hub peak RSS: ${rss === undefined ? 'n/a' : `${rss.toFixed(0)} MiB`}\n`);
    if (steps.checking !== undefined && steps.applying !== undefined) {
      process.stdout.write(
        `steps: received in ${(steps.checking / 1000).toFixed(1)} s, checked in ${((steps.applying - steps.checking) / 1000).toFixed(1)} s, applied in ${((wall - steps.applying) / 1000).toFixed(1)} s (±0.25 s)\n`,
      );
    }
  });
  if (process.argv.includes('--json')) process.stdout.write(`\n${JSON.stringify(out, null, 2)}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${(err as Error).stack}\n`);
  process.exit(1);
});
