import type { SqliteHubStorage } from '../src/storage/index.js';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { request, type ClientRequest } from 'node:http';
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Readable, Writable } from 'node:stream';
import Database from 'better-sqlite3';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AGENT_WS_PATH, TbCodes } from '@tillbridge/shared';
import { initHub, startHub, type RunningHub } from '../src/hub.js';
import type { Hub } from '../src/hub-services.js';
import { Imports, type ImportProgress } from '../src/imports/imports.js';
import { checkInventoryRecord, inventoryImport } from '../src/imports/inventory-import.js';
import { AdminClient } from '../src/cli/admin-client.js';
import { uploadImport } from '../src/cli/import-upload.js';
import { importInventory } from '../src/http/contract/inventory.js';
import { checkSaleLine } from '../src/imports/sales-import.js';
import type { FeedEntry } from '../src/feed/feed.js';
import { capturingStream, recordSale, silent, wireHello } from './helpers.js';
import { authorizeRequest } from './agent-socket.js';
import { wsText } from '../../test/support/ws.js';

/** rows per transaction in this hub: small, so that a file of a few MB makes many transactions */
const CHUNK = 500;

let dir: string;
let token: string;
let running: RunningHub;
let hub: Hub;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'tb-imports-'));
  token = initHub(dir, silent).adminToken;
  running = await startHub({ dataDir: dir, host: '127.0.0.1', port: 0, log: silent, imports: { chunkRows: CHUNK } });
  hub = running.hub;
  for (const s of ['S1', 'S2', 'S3']) hub.stores.create(s, s);
});

afterAll(async () => {
  await running.stop();
  rmSync(dir, { recursive: true, force: true });
});

interface Answer {
  status: number;
  body: Record<string, unknown>;
}

/**
 * POSTs `body` (streamed when a Readable) and resolves with the answer; `onRequest` gets the request (to break it off).
 */
function post(
  path: string,
  body: string | Readable,
  contentType: string,
  onRequest?: (r: ClientRequest) => void,
  to = { url: running.url, token },
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(
      `${to.url}${path}`,
      { method: 'POST', headers: { authorization: `Bearer ${to.token}`, 'content-type': contentType } },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (text += d));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, body: (text ? JSON.parse(text) : {}) as Record<string, unknown> }),
        );
      },
    );
    req.on('error', reject);
    onRequest?.(req);
    if (typeof body === 'string') req.end(body);
    else body.pipe(req);
  });
}

async function get<T>(path: string, to = { url: running.url, token }): Promise<T> {
  const r = await fetch(`${to.url}${path}`, { headers: { authorization: `Bearer ${to.token}` } });
  return (await r.json()) as T;
}

const progress = (id: string, to = { url: running.url, token }): Promise<ImportProgress> =>
  get<ImportProgress>(`/v1/admin/imports/${id}`, to);

async function until<T>(what: string, check: () => T | undefined | false | Promise<T | undefined | false>): Promise<T> {
  for (let i = 0; i < 6000; i++) {
    const v = await check();
    if (v !== undefined && v !== false) return v;
    await new Promise((r) => setTimeout(r, 5));
  }
  throw new Error(`never: ${what}`);
}

/** `rows` CSV rows over `stores`, each SKU once: `PREFIX-i` with quantity i % 97. */
function csv(rows: number, prefix: string, stores = ['S1', 'S2']): string {
  const out = ['store,sku,qty'];
  for (let i = 0; i < rows; i++) out.push(`${stores[i % stores.length]},${prefix}-${i},${i % 97}`);
  return `${out.join('\n')}\n`;
}

const auditOf = (id: string): { action: string; outcome: string; details: Record<string, unknown> }[] =>
  (
    hub.storage.db
      .prepare(`SELECT action, outcome, details FROM audit WHERE resource = ? ORDER BY id`)
      .all(`import:${id}`) as { action: string; outcome: string; details: string }[]
  ).map((r) => ({ ...r, details: JSON.parse(r.details) as Record<string, unknown> }));

const movementsOf = (id: string): number =>
  (hub.storage.db.prepare(`SELECT COUNT(*) AS n FROM movements WHERE ref = ?`).get(`import:${id}`) as { n: number }).n;

/** DESIGN rule 5 over every row the prefix touched: on-hand = sum of movements. */
function ledgerDrift(prefix: string): unknown[] {
  return hub.storage.db
    .prepare(
      `SELECT i.store, i.sku, i.on_hand,
              (SELECT COALESCE(SUM(delta), 0) FROM movements m WHERE m.store = i.store AND m.sku = i.sku) AS moved
         FROM inventory i WHERE i.sku LIKE ? AND i.on_hand <> moved`,
    )
    .all(`${prefix}-%`);
}

const staged = (): number =>
  (hub.storage.db.prepare(`SELECT COUNT(*) AS n FROM temp.import_batches`).get() as { n: number }).n;

/** A store's agent, speaking the wire protocol over a real WebSocket: every frame kept, requests answered by rid. */
async function agentFor(store: string): Promise<{
  frames: Record<string, unknown>[];
  authorize: (receipt: string) => Promise<Record<string, unknown>>;
  close: () => void;
}> {
  const apiKey = hub.credentials.createApiKey(store);
  const t = (await (
    await fetch(`${running.url}/v1/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ store, apiKey }),
    })
  ).json()) as { accessToken: string };
  const ws = new WebSocket(`${running.wsUrl}${AGENT_WS_PATH}`, {
    headers: { authorization: `Bearer ${t.accessToken}` },
  });
  const frames: Record<string, unknown>[] = [];
  const waiting = new Map<number, (f: Record<string, unknown>) => void>();
  ws.on('message', (d) => {
    const f = JSON.parse(wsText(d)) as Record<string, unknown>;
    frames.push(f);
    if (f.t === 'res') waiting.get(f.rid as number)?.(f);
  });
  await new Promise((r, j) => ws.once('open', r).once('error', j));
  ws.send(JSON.stringify(wireHello(`agent-${store}`)));
  await until('welcome', () => frames.some((f) => f.t === 'welcome'));
  let rid = 0;
  return {
    frames,
    authorize: (receipt) =>
      new Promise((resolve) => {
        const n = ++rid;
        waiting.set(n, resolve);
        ws.send(JSON.stringify(authorizeRequest(n, receipt, receipt)));
      }),
    close: () => ws.close(),
  };
}

describe('inventory import', () => {
  it(
    'applies a file in transactions of at most the chunk size, each audited with its lines; the ledger holds; a ' +
      're-run changes nothing',
    async () => {
      const rows = 5 * CHUNK + 7;
      const file = csv(rows, 'A');
      const r = await post('/v1/admin/inventory/import?id=imp-a', file, 'text/csv');
      expect(r).toEqual({
        status: 200,
        body: { import: 'imp-a', rows, changed: rows - Math.ceil(rows / 97), stores: ['S1', 'S2'] },
      });
      const audit = auditOf('imp-a');
      expect(audit).toHaveLength(6);
      expect(audit.map((a) => a.details.rows)).toEqual([CHUNK, CHUNK, CHUNK, CHUNK, CHUNK, 7]);
      expect(audit.map((a) => a.outcome)).toEqual(['applied', 'applied', 'applied', 'applied', 'applied', 'imported']);
      expect(audit[0]).toMatchObject({
        action: 'inventory.import',
        details: { import: 'imp-a', transaction: 1, lines: [2, CHUNK + 1] },
      });
      expect(audit[5]!.details).toMatchObject({
        lines: [5 * CHUNK + 2, rows + 1],
        total: { rows, transactions: 6, changed: r.body.changed },
      });
      expect(movementsOf('imp-a')).toBe(r.body.changed);
      expect(hub.ledger.get('S2', 'A-5')?.onHand).toBe(5000);
      expect(ledgerDrift('A')).toEqual([]);
      expect(await progress('imp-a')).toMatchObject({
        kind: 'inventory',
        state: 'imported',
        rows,
        applied: rows,
        appliedThroughLine: rows + 1,
        transactions: 6,
        badRows: 0,
      });
      expect(staged()).toBe(0);
      if (hub.storage.engine === 'sqlite')
        // FULL again for everything else
        expect((hub.storage as SqliteHubStorage).raw.pragma('synchronous', { simple: true })).toBe(2);

      const again = await post('/v1/admin/inventory/import', file, 'text/csv');
      expect(again.body).toMatchObject({ rows, changed: 0 });
    },
  );

  it('applies nothing when any row is bad, and names each bad row with its line and column', async () => {
    const lines = csv(4 * CHUNK, 'B').split('\n');
    lines[1501] = 'NOPE,B-1500,1'; // line 1502
    lines[1600] = 'S1,B-1599,-1'; // line 1601
    lines[2000] = 'S1,B 1999,2'; // the last row, line 2001
    const r = await post('/v1/admin/inventory/import?id=imp-b', lines.join('\n'), 'text/csv');
    expect(r.status).toBe(400);
    expect(r.body).toMatchObject({ code: TbCodes.INVALID, details: { import: 'imp-b', badRows: 3 } });
    expect(r.body.message).toMatch(/^3 bad row\(s\) in 2000; nothing was applied:/);
    expect(r.body.message).toContain(
      'line 1502, column store: no store "NOPE" (add it with: tillbridge-hub stores add NOPE)',
    );
    expect(r.body.message).toContain(
      'line 1601, column qty: expected a quantity of zero or more with at most three decimals, got "-1"',
    );
    expect(r.body.message).toContain('line 2001, column sku: expected 1-64 characters without spaces or commas');
    expect(hub.ledger.get('S1', 'B-0')).toBeUndefined();
    expect(movementsOf('imp-b')).toBe(0);
    expect(auditOf('imp-b')).toEqual([]);
    expect(staged()).toBe(0); // the rows staged before the first bad one are gone
    expect(await progress('imp-b')).toMatchObject({
      state: 'refused',
      applied: 0,
      rowsRead: 2000,
      badRows: 3,
      error: { code: TbCodes.INVALID },
    });
  });

  it('reads the columns in any order (others ignored), with a byte order mark, CRLF and decimals', async () => {
    const r = await post(
      '/v1/admin/inventory/import',
      '\uFEFFsku, Store ,qty,note\r\nE-1,S1,3,x\r\n\r\nE-2,S1,0.5,y\r\n',
      'text/csv',
    );
    expect(r.body).toMatchObject({ rows: 2, changed: 2 });
    expect([hub.ledger.get('S1', 'E-1')?.onHand, hub.ledger.get('S1', 'E-2')?.onHand]).toEqual([3000, 500]);
  });

  it('refuses malformed CSV and a wrong header, naming the line', async () => {
    const bad = await post('/v1/admin/inventory/import', 'store,sku,qty\nS1,C-1,1\nS1,"C-2,1\n', 'text/csv');
    expect(bad).toMatchObject({
      status: 400,
      body: { code: TbCodes.INVALID, message: expect.stringMatching(/^line \d+: not valid CSV: Quote Not Closed/) },
    });
    const header = await post('/v1/admin/inventory/import', 'store,sku,quantity\nS1,C-1,1\n', 'text/csv');
    expect(header).toMatchObject({
      status: 400,
      body: { message: 'line 1: the header must name the columns store,sku,qty (missing "qty")' },
    });
    expect(hub.ledger.get('S1', 'C-1')).toBeUndefined();
  });

  it(
    'keeps answering /healthz and online authorizations while a large file is applied; ' +
      'holds bounded work at a time',
    async () => {
      const at = new Date().toISOString();
      recordSale(hub, 'S3', { receipt: 'L-1', sku: 'X', qty: 5, unitPrice: 100, at, requestId: 'm-L', eventId: 'e-L' });
      const agent = await agentFor('S1');
      const rows = 100_000;
      const file = csv(rows, 'L');
      expect(file.length).toBeGreaterThan(1_300_000);
      const done = post('/v1/admin/inventory/import?id=imp-l', Readable.from(chunksOf(file, 16 * 1024)), 'text/csv');
      let finished = false;
      void done.then(() => (finished = true));

      // the file is being applied, transaction by transaction …
      await until('applying', async () => {
        const p = await progress('imp-l');
        return p.state === 'applying' && p.applied > 0;
      });
      // … and the hub answers in between: health, and an online authorization over the agent's socket
      const health = await fetch(`${running.url}/healthz`);
      expect(health.status).toBe(200);
      const dagent = await agentFor('S3');
      const decision = await dagent.authorize('L-1');
      expect(decision).toMatchObject({ t: 'res', ok: true, body: { decision: 'approved' } });
      const mid = await progress('imp-l');
      expect(finished).toBe(false);
      expect(mid.state).toBe('applying');
      expect(mid.applied).toBeLessThan(rows);

      const r = await done;
      expect(r.body).toMatchObject({ import: 'imp-l', rows, stores: ['S1', 'S2'] });
      expect((await progress('imp-l')).transactions).toBe(rows / CHUNK);
      // bounded: rows per transaction and per staging batch, and what was read from the socket ahead of the parser
      const stats = hub.imports.stats('imp-l')!;
      expect(stats.maxRowsPerTx).toBe(CHUNK);
      expect(stats.maxStagedBatch).toBe(CHUNK);
      expect(stats.maxUnparsedBytes).toBeLessThan(256 * 1024);
      // the store's agent got its SKUs as they committed, at most a chunk a frame
      await until(
        'pushed',
        () =>
          agent.frames
            .filter((f) => f.t === 'inventory' && !f.full)
            .reduce((n, f) => n + (f.items as unknown[]).length, 0) >=
          rows / 2,
      );
      const pushed = agent.frames
        .filter((f) => f.t === 'inventory' && !f.full)
        .map((f) => (f.items as unknown[]).length);
      expect(Math.max(...pushed)).toBeLessThanOrEqual(CHUNK);
      expect(ledgerDrift('L')).toEqual([]);
      agent.close();
      dagent.close();
    },
  );

  it(
    'stops at a chunk boundary when the client goes away, ' + 'audits what it applied, and a re-run finishes it',
    async () => {
      const rows = 40 * CHUNK;
      const file = csv(rows, 'D');
      let req: ClientRequest | undefined;
      const broken = post('/v1/admin/inventory/import?id=imp-d', file, 'text/csv', (r) => (req = r)).catch(
        (err: unknown) => err,
      );
      await until('applying', async () => (await progress('imp-d')).applied >= 2 * CHUNK);
      req!.destroy();
      expect(await broken).toBeInstanceOf(Error);
      const p = await until('stopped', async () => {
        const q = await progress('imp-d');
        return q.state === 'stopped' && q;
      });
      expect(p.applied % CHUNK).toBe(0);
      expect(p.applied).toBeLessThan(rows);
      expect(p.error).toMatchObject({
        code: TbCodes.IMPORT_INCOMPLETE,
        message: expect.stringContaining(`${p.applied} of ${rows} rows were applied (lines 2–${p.applied + 1}`),
      });
      const audit = auditOf('imp-d');
      expect(audit.filter((a) => a.outcome === 'applied')).toHaveLength(p.applied / CHUNK);
      expect(audit[audit.length - 1]).toMatchObject({
        outcome: 'stopped',
        details: { applied: p.applied, rows, lines: [2, p.applied + 1] },
      });
      expect(hub.ledger.get('S1', `D-${p.applied}`)).toBeUndefined(); // the first row not applied
      expect(staged()).toBe(0);
      expect(ledgerDrift('D')).toEqual([]);

      const again = await post('/v1/admin/inventory/import', file, 'text/csv');
      // rows p.applied..rows-1 are new; those whose quantity is 0 (i a multiple of 97) change nothing
      const zeros = Math.ceil(rows / 97) - Math.ceil(p.applied / 97);
      expect(again.body).toMatchObject({ rows, changed: rows - p.applied - zeros });
      expect(hub.ledger.get('S2', `D-${rows - 1}`)?.onHand).toBe(((rows - 1) % 97) * 1000);
    },
  );

  it('runs a bounded number of imports at once, and refuses an id already used', async () => {
    const held = [new PassThrough(), new PassThrough()];
    const first = held.map((b, i) => post(`/v1/admin/inventory/import?id=imp-h${i}`, b, 'text/csv'));
    for (const b of held) b.write('store,sku,qty\nS1,H-1,1\n');
    await until(
      'both receiving',
      async () => (await progress('imp-h0')).bytesReceived > 0 && (await progress('imp-h1')).bytesReceived > 0,
    );
    const third = await post('/v1/admin/inventory/import?id=imp-h2', 'store,sku,qty\nS1,H-2,1\n', 'text/csv');
    expect(third).toMatchObject({ status: 503, body: { code: TbCodes.STORAGE_BUSY } });
    for (const b of held) b.end();
    expect((await Promise.all(first)).map((r) => r.status)).toEqual([200, 200]);
    expect(await post('/v1/admin/inventory/import?id=imp-h0', 'store,sku,qty\n', 'text/csv')).toMatchObject({
      status: 409,
      body: { code: TbCodes.CONFLICT },
    });
    expect(await post('/v1/admin/inventory/import?id=no%20spaces', 'store,sku,qty\n', 'text/csv')).toMatchObject({
      status: 400,
      body: { code: TbCodes.INVALID },
    });
  });
});

describe('sales import', () => {
  const sale = (receipt: string, extra: Record<string, unknown> = {}): string =>
    JSON.stringify({
      store: 'S3',
      channel: 'web',
      receipt,
      at: '2026-11-26T10:00:00Z',
      currency: 'EUR',
      lines: [{ line: 1, sku: 'W-SKU', qty: 1, unitPrice: 500 }],
      tenders: [{ kind: 'card', amount: 500, pan: '4111111111111111' }],
      ...extra,
    });
  const salesAudit = (id: string): number =>
    (
      hub.storage.db
        .prepare(`SELECT COUNT(*) AS n FROM audit WHERE action = 'sale.record' AND resource LIKE ?`)
        .get(`sale:${id}-%`) as { n: number }
    ).n;

  it(
    'records JSON lines in chunks; ' +
      'a receipt already recorded is skipped and reported; the list of skips is bounded',
    async () => {
      const at = '2026-11-26T09:00:00Z';
      recordSale(hub, 'S3', {
        receipt: 'W-7',
        sku: 'W-SKU',
        qty: 1,
        unitPrice: 500,
        at,
        requestId: 'm-W',
        eventId: 'e-W',
      });
      const n = 2 * CHUNK + 300;
      const file = `${Array.from({ length: n }, (_, i) => sale(`W-${i}`)).join('\r\n')}\r\n\r\n`;
      const r = await post('/v1/admin/sales?id=sal-w', file, 'application/x-ndjson');
      expect(r.status).toBe(200);
      expect(r.body).toMatchObject({
        import: 'sal-w',
        imported: n - 1,
        skippedCount: 1,
        skipped: [{ line: 8, receipt: 'W-7', reason: expect.stringContaining('already recorded') }],
        stores: ['S3'],
        channels: ['web'],
      });
      expect(auditOf('sal-w').map((a) => [a.action, a.details.rows])).toEqual([
        ['sales.import', CHUNK],
        ['sales.import', CHUNK],
        ['sales.import', 300],
      ]);
      expect(salesAudit('W')).toBe(n); // one per sale, as from a register (W-7 was recorded by one)
      expect(JSON.stringify(hub.sales.get('S3', 'W-1')!.tenders)).not.toContain('4111111111111111');
      expect(ledgerDrift('W')).toEqual([]);
      // the web orders are on the ERP feed, as sales of their channel without a register, card masked
      const web: FeedEntry[] = [];
      for (let after = 0; ;) {
        // a filtered read looks at 1,000 rows at a time
        const page = hub.erpFeed.read(after, 1000, { store: 'S3', types: ['sale.recorded'] });
        web.push(...page.entries.filter((e) => e.data.channel === 'web'));
        if (page.next === after) break;
        after = page.next;
      }
      expect(web.length).toBeGreaterThan(0);
      expect(web[0]!.data).toMatchObject({
        channel: 'web',
        register: null,
        sourceEventId: null,
        tenders: [{ kind: 'card', amount: 500, pan: expect.stringMatching(/^\d{0,6}\*+1111$/) }],
      });
      expect(JSON.stringify(web)).not.toContain('4111111111111111');

      const again = await post('/v1/admin/sales', file, 'application/x-ndjson');
      expect(again.body).toMatchObject({ imported: 0, skippedCount: n });
      expect(again.body.skipped).toHaveLength(1000);
    },
  );

  it('refuses a card number in an identifier and track data anywhere; masks one in a tender kind', async () => {
    const lines = [
      sale('4111111111111111'),
      sale('C-2', { lines: [{ line: 1, sku: 'box 4012888888881881', qty: 1, unitPrice: 500 }] }),
      sale('C-3', { note: '%B4111111111111111^DOE/JOHN^29121010000000000000?' }),
      sale('C-4', { tenders: [{ kind: 'card', amount: 500, cvv: '123' }] }),
    ];
    const r = await post('/v1/admin/sales', lines.join('\n'), 'application/x-ndjson');
    expect(r).toMatchObject({ status: 400, body: { code: TbCodes.INVALID, details: { badRows: 4 } } });
    expect(r.body.message).toContain('line 1: receipt: looks like a card number');
    expect(r.body.message).toContain('line 2: lines[0].sku: looks like a card number');
    expect(r.body.message).toContain('line 3: note refused: track data, CVV and PIN data are never accepted');
    expect(r.body.message).toContain('line 4: tenders[0].cvv refused');
    expect(r.body.message).not.toMatch(/4111111111111111|4012888888881881/);
    expect(staged()).toBe(0);

    const kind = sale('C-5', { tenders: [{ kind: 'card 4012888888881881', amount: 500 }] });
    expect(await post('/v1/admin/sales', kind, 'application/x-ndjson')).toMatchObject({ status: 200 });
    const tenders = JSON.stringify(hub.sales.get('S3', 'C-5')!.tenders);
    expect(tenders).toContain('card 401288******1881');
    const feed = JSON.stringify(hub.erpFeed.read(0, 1000, { store: 'S3' }).entries);
    expect(feed).not.toContain('4012888888881881');
  });

  it('applies nothing when any line is bad, naming each', async () => {
    const lines = Array.from({ length: 3 * CHUNK }, (_, i) => sale(`V-${i}`));
    lines[999] = '{"store":"S3",'; // line 1000
    lines[1200] = sale('V-1200', { store: 'NOPE' });
    lines[1400] = sale('V-1400', { currency: 'euro' });
    const r = await post('/v1/admin/sales', lines.join('\n'), 'application/x-ndjson');
    expect(r).toMatchObject({ status: 400, body: { code: TbCodes.INVALID, details: { badRows: 3 } } });
    expect(r.body.message).toContain('line 1000: not valid JSON');
    expect(r.body.message).toContain('line 1201: store: no store "NOPE"');
    expect(r.body.message).toMatch(/line 1401: currency/);
    expect(hub.sales.get('S3', 'V-0')).toBeUndefined();
    expect(staged()).toBe(0);
  });

  it('never has a card number at rest in the clear: the spool is encrypted, the staged row masked', async () => {
    // The hub spools in the temporary directory, which other test processes share and spool in too:
    // this test gives it one of its own, so what it reads and counts there is this import's alone.
    const machineTmp = process.env.TMPDIR;
    const ownTmp = mkdtempSync(join(tmpdir(), 'tb-spool-'));
    process.env.TMPDIR = ownTmp;
    try {
      const spoolFiles = (): string[] => readdirSync(ownTmp).filter((f) => f.startsWith('tillbridge-import-'));
      const body = new PassThrough();
      const done = post('/v1/admin/sales?id=sal-p', body, 'application/x-ndjson');
      body.write(`${sale('P-1')}\n${sale('P-2')}\n`);
      const spooled = await until('on disk', () => {
        const b = Buffer.concat(spoolFiles().map((f) => readFileSync(join(ownTmp, f))));
        return b.length > 0 && b;
      });
      expect(spooled.includes('4111111111111111')).toBe(false);
      expect(spooled.includes('"receipt"')).toBe(false);
      body.end();
      expect((await done).body).toMatchObject({ imported: 2 });
      expect(spoolFiles()).toEqual([]); // removed once checked
    } finally {
      if (machineTmp === undefined) delete process.env.TMPDIR;
      else process.env.TMPDIR = machineTmp;
      rmSync(ownTmp, { recursive: true, force: true });
    }
    const checked = checkSaleLine(hub, 1, sale('P-3'));
    const stagedRow = JSON.stringify(checked && 'row' in checked && checked.row); // what is staged
    expect(stagedRow).toContain('411111******1111');
    expect(stagedRow).not.toContain('4111111111111111');
  });

  it('a row naming an unknown store that is a card number is refused with the number masked where it is made', () => {
    const pan = '4111111111111111';
    const saleRow = checkSaleLine(hub, 7, sale('M-1', { store: pan }));
    const inventoryRow = checkInventoryRecord(8, { store: pan, sku: 'A', qty: '1' }, () => false);
    for (const checked of [saleRow, inventoryRow]) {
      const error = checked && 'error' in checked ? checked.error : '';
      expect(error).toContain('no store "411111******1111"');
      expect(error).not.toContain(pan);
    }
  });

  it('takes one sale as a JSON body', async () => {
    const r = await post('/v1/admin/sales', sale('J-1'), 'application/json');
    expect(r.body).toMatchObject({ imported: 1, stores: ['S3'] });
  });
});

describe('tillbridge-hub inventory import (the upload)', () => {
  it(
    'streams the file and, on a terminal, follows the hub: ' + 'bytes sent and rows checked, then rows applied',
    async () => {
      const file = join(dir, 'stock.csv');
      writeFileSync(file, csv(30_000, 'U'));
      const { s: tty, out: written } = capturingStream(true);
      const r = await uploadImport(new AdminClient(running.url, token), importInventory, file, 'text/csv', tty, 20);
      const out = written();
      expect(r.rows).toBe(30_000);
      expect(await progress(r.import)).toMatchObject({
        state: 'imported',
        bytesReceived: statSync(file).size,
        bytesExpected: statSync(file).size,
        bytesChecked: statSync(file).size,
      });
      expect(out).toMatch(/stock\.csv: sending \[[#.]+\] +\d+ % [\d.]+ MB\/0\.4 MB/);
      expect(out).toMatch(/stock\.csv: checking \[[#.]+\] +\d+ % [\d.]+ MB\/0\.4 MB · [\d,]+ rows/);
      expect(out).toMatch(/stock\.csv: applying \[[#.]+\] +\d+ % [\d,]+\/30,000 · \d+ transaction\(s\)/);
      expect(out.endsWith('\r\x1b[K')).toBe(true); // cleared at the end
    },
  );

  it('when the connection breaks, asks the hub what became of the import and says so', async () => {
    const file = join(dir, 'cut.csv');
    writeFileSync(file, csv(40 * CHUNK, 'Q'));
    // a TCP proxy in front of the hub that breaks the first connection (the upload) once the import is applying
    const hubPort = Number(new URL(running.url).port);
    let first: Socket | undefined;
    const open: Socket[] = [];
    const proxy = createServer((client) => {
      const upstream = connect(hubPort, '127.0.0.1');
      first ??= client;
      open.push(client, upstream);
      client.pipe(upstream).pipe(client);
      client.on('error', () => upstream.destroy());
      upstream.on('error', () => client.destroy());
    });
    await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', () => r()));
    const cut = (async () => {
      await until('applying', () =>
        hub.imports
          .list()
          .find((p) => p.state === 'applying' && p.bytesExpected === statSync(file).size && p.applied > 0),
      );
      first!.destroy();
    })();
    try {
      // not a terminal: no polling, one connection
      const quiet = new Writable({ write: (_c, _e, cb) => cb() }) as unknown as NodeJS.WriteStream;
      const err = await uploadImport(
        new AdminClient(`http://127.0.0.1:${(proxy.address() as AddressInfo).port}`, token),
        importInventory,
        file,
        'text/csv',
        quiet,
      ).catch((e: unknown) => e);
      await cut;
      expect(err).toMatchObject({
        code: TbCodes.IMPORT_INCOMPLETE,
        message: expect.stringMatching(
          new RegExp(
            '^the connection to the hub was lost during import \\S+, which is ' +
              '(stopping at its next transaction|stopped): [\\d,]+ of 20,000 rows applied ' +
              '\\(through line \\d+\\)\\. Run the same file again',
          ),
        ),
      });
    } finally {
      for (const sock of open) sock.destroy();
      proxy.close();
    }
  });

  it('says which file it cannot read', async () => {
    await expect(
      uploadImport(new AdminClient(running.url, token), importInventory, join(dir, 'missing.csv'), 'text/csv'),
    ).rejects.toMatchObject({ code: TbCodes.INVALID, message: expect.stringContaining('cannot read') });
  });
});

describe('Imports, in process', () => {
  it(
    'calls back after each committed transaction (the audit checkpoints), and refuses a body over its limit, ' +
      'applying nothing',
    async () => {
      let commits = 0;
      const imports = new Imports(
        hub.storage,
        hub.audit,
        hub.feed,
        hub.clock,
        silent,
        { chunkRows: 10, maxBytes: 10_000 },
        () => commits++,
      );
      const r = await imports.run(inventoryImport(hub), {
        actor: 'admin:test',
        body: Readable.from([csv(25, 'K', ['S1'])]),
      });
      expect(r).toMatchObject({ rows: 25 });
      expect(commits).toBe(3);
      await expect(
        imports.run(inventoryImport(hub), { actor: 'admin:test', body: Readable.from([csv(2000, 'K2', ['S1'])]) }),
      ).rejects.toMatchObject({ code: TbCodes.FRAME_TOO_LARGE });
      expect(hub.ledger.get('S1', 'K2-0')).toBeUndefined();
    },
  );

  it(
    'when a transaction fails, keeps the ones before it, rolls that one back whole, and says exactly what was ' +
      'applied',
    async () => {
      const real = inventoryImport(hub);
      let chunks = 0;
      const failing: typeof real = {
        ...real,
        apply(rows, id) {
          const c = real.apply(rows, id); // the movements are written, then the transaction fails
          if (++chunks === 3) throw new Error('disk I/O error');
          return c;
        },
      };
      const imports = new Imports(hub.storage, hub.audit, hub.feed, hub.clock, silent, { chunkRows: 10 });
      const err = await imports
        .run(failing, { id: 'imp-f', actor: 'admin:test', body: Readable.from([csv(45, 'F', ['S1'])]) })
        .catch((e: unknown) => e);
      expect(err).toMatchObject({
        code: TbCodes.IMPORT_INCOMPLETE,
        details: { applied: 20, rows: 45, appliedThroughLine: 21 },
      });
      expect((err as Error).message).toContain(
        '20 of 45 rows were applied (lines 2–21, in 2 transaction(s), each audited as import:imp-f); ' +
          'nothing after line 21',
      );
      expect(imports.get('imp-f')).toMatchObject({ state: 'failed', applied: 20 });
      expect(hub.ledger.get('S1', 'F-19')?.onHand).toBe(19_000);
      expect(hub.ledger.get('S1', 'F-21')).toBeUndefined(); // the failed transaction's rows, rolled back
      expect(auditOf('imp-f').map((a) => a.outcome)).toEqual(['applied', 'applied']);
      if (hub.storage.engine === 'sqlite')
        expect((hub.storage as SqliteHubStorage).raw.pragma('synchronous', { simple: true })).toBe(2);
      expect(ledgerDrift('F')).toEqual([]);
      expect(staged()).toBe(0);
    },
  );
});

describe('the hub stopping during an import', () => {
  it('stops the import at a chunk boundary, answers with exactly what was applied, and audits it', async () => {
    const d = mkdtempSync(join(tmpdir(), 'tb-imports-stop-'));
    try {
      const to = { url: '', token: initHub(d, silent).adminToken };
      const other = await startHub({
        dataDir: d,
        host: '127.0.0.1',
        port: 0,
        log: silent,
        imports: { chunkRows: CHUNK },
      });
      to.url = other.url;
      other.hub.stores.create('S1', 'S1');
      const rows = 40 * CHUNK;
      const answer = post('/v1/admin/inventory/import?id=imp-s', csv(rows, 'S', ['S1']), 'text/csv', undefined, to);
      await until('applying', async () => (await progress('imp-s', to)).applied >= CHUNK);
      await other.stop();
      const r = await answer;
      expect(r).toMatchObject({
        status: 500,
        body: { code: TbCodes.IMPORT_INCOMPLETE, details: { import: 'imp-s', rows } },
      });
      const applied = (r.body.details as { applied: number }).applied;
      expect(applied % CHUNK).toBe(0);
      expect(applied).toBeLessThan(rows);
      expect(r.body.message).toContain('the hub is stopping');
      const db = new Database(join(d, 'hub.sqlite'), { readonly: true });
      const audit = db
        .prepare(`SELECT outcome, details FROM audit WHERE resource = 'import:imp-s' ORDER BY id`)
        .all() as { outcome: string; details: string }[];
      const moved = (
        db.prepare(`SELECT COUNT(*) AS n FROM movements WHERE ref = 'import:imp-s'`).get() as { n: number }
      ).n;
      db.close();
      expect(audit.filter((a) => a.outcome === 'applied')).toHaveLength(applied / CHUNK);
      expect(audit[audit.length - 1]!.outcome).toBe('stopped');
      expect(JSON.parse(audit[audit.length - 1]!.details)).toMatchObject({ reason: 'the hub is stopping', applied });
      expect(moved).toBe(applied - Math.ceil(applied / 97)); // every applied row that changed stock, and no other
    } finally {
      rmSync(d, { recursive: true, force: true });
    }
  });
});

function* chunksOf(text: string, size: number): Generator<Buffer> {
  const b = Buffer.from(text);
  for (let i = 0; i < b.length; i += size) yield b.subarray(i, i + size);
}
