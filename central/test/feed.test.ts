import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { feedCommands } from '../src/cli/commands/feed.js';
import type { FeedConsumer, FeedEntry } from '../src/feed/feed.js';
import { feedRoutes } from '../src/http/admin/feed.js';
import { Router } from '../src/http/router.js';
import { wireUseCases } from '../src/usecases/index.js';
import { scalar, testHub, hubForEachTest, wireSale } from './helpers.js';
import { runCli } from './cli-run.js';
import { askReturn } from './returns-support.js';

/** The ERP feed (docs/erp-feed.md): written with each change, read by position, consumers' cursors. */

const sale = (receipt: string, at: string) => ({
  requestId: `m-${receipt}`,
  receipt,
  at,
  currency: 'EUR',
  lines: [
    { line: 1, sku: 'A', qty: 2, unitPrice: 1000 },
    { line: 2, sku: 'B', qty: 1, unitPrice: 250 },
  ],
  tenders: [{ kind: 'card', amount: 2250, pan: '************4242', panHash: 'h-4242' }],
});

describe('the feed, written inside the change', () => {
  const t = hubForEachTest({ S1: 'One', S2: 'Two' });

  it(
    'a sale: sale.recorded then one inventory.adjusted per line, positions growing, the business day in the store’s ' +
      'zone',
    () => {
      t.hub.useCases.settings.setSyncSettings('admin:a', 'S1', { timeZone: 'America/New_York' }, {});
      // 03:30 UTC on 30 November is still the 29th in New York
      t.hub.storage.tx(() =>
        t.hub.saleService.record('S1', 'R1', 'store', sale('1001', '2026-11-30T03:30:00Z'), 'ev-1'),
      );
      const { entries, next } = t.hub.erpFeed.read(0, 100);
      expect(entries.map((e) => e.type)).toEqual(['sale.recorded', 'inventory.adjusted', 'inventory.adjusted']);
      expect(entries.map((e) => e.position)).toEqual([...entries.map((e) => e.position)].sort((a, b) => a - b));
      expect(new Set(entries.map((e) => e.id)).size).toBe(3);
      expect(next).toBe(entries[2]!.position);
      const s = entries[0]!;
      expect(s).toMatchObject({ store: 'S1', businessDay: '2026-11-29', at: '2026-11-30T03:30:00.000Z' });
      expect(s.data).toMatchObject({
        receipt: '1001',
        register: 'R1',
        channel: 'store',
        total: 2250,
        currency: 'EUR',
        sourceEventId: 'ev-1',
      });
      // masked; the hub's card hash stays at the hub
      expect(s.data.tenders).toEqual([{ kind: 'card', amount: 2250, pan: '************4242' }]);
      expect(entries[1]!.data).toMatchObject({ sku: 'A', delta: -2, kind: 'sale', ref: '1001' });
      // another store in UTC: the same instant is the 30th
      t.hub.storage.tx(() =>
        t.hub.saleService.record('S2', 'R1', 'store', sale('1001', '2026-11-30T03:30:00Z'), 'ev-2'),
      );
      expect(t.hub.erpFeed.read(next, 1).entries[0]).toMatchObject({ store: 'S2', businessDay: '2026-11-30' });
    },
  );

  it('a change that rolls back leaves nothing on the feed, and wakes nobody', async () => {
    let woke = 0;
    t.hub.erpFeed.onCommitted(() => woke++);
    expect(() =>
      t.hub.storage.tx(() => {
        t.hub.saleService.record('S1', 'R1', 'store', sale('1001', '2026-11-27T09:00:00Z'), null);
        throw new Error('disk full');
      }),
    ).toThrow('disk full');
    await Promise.resolve();
    expect(t.hub.erpFeed.head()).toBe(0);
    expect(woke).toBe(0);
  });

  it('sales applied as a group commit and one by one put the same entries on the feed, in the same order', () => {
    t.hub.applier.grouped = true;
    t.hub.applier.applyBatches([
      {
        store: 'S1',
        agentId: 'a1',
        incarnation: 'i1',
        items: [wireSale(1, 'e1', '1'), wireSale(2, 'e2', '2')],
        origin: 'agent:a1',
      },
    ]);
    expect(t.hub.erpFeed.read(0, 10).entries.map((e) => `${e.type}:${String(e.data.receipt ?? e.data.ref)}`)).toEqual([
      'sale.recorded:1',
      'inventory.adjusted:1',
      'sale.recorded:2',
      'inventory.adjusted:2',
    ]);
  });

  it('entries gathered by `together` are written in order when it returns, and none when it throws', () => {
    const emit = (n: number) =>
      t.hub.events.emit('inventory.adjusted', 'S1', () => ({
        store: 'S1',
        sku: `K${n}`,
        delta: 1,
        onHand: n,
        kind: 'adjustment',
        ref: null,
        at: '2026-11-27T09:00:00.000Z',
      }));
    t.hub.storage.tx(() => t.hub.events.together(() => [1, 2, 3].forEach(emit)));
    expect(t.hub.erpFeed.read(0, 10).entries.map((e) => e.data.sku)).toEqual(['K1', 'K2', 'K3']);
    expect(() =>
      t.hub.storage.savepoint(() =>
        t.hub.events.together(() => {
          emit(4);
          throw new Error('a statement failed');
        }),
      ),
    ).toThrow('a statement failed');
    t.hub.storage.tx(() => emit(5));
    expect(t.hub.erpFeed.read(0, 10).entries.map((e) => e.data.sku)).toEqual(['K1', 'K2', 'K3', 'K5']);
  });

  it('the event id is the same on the feed and in the webhook (webhook-id): one id to dedupe by', () => {
    t.hub.webhooks.add({ url: 'https://erp.example/hook', events: ['sale.recorded'] }, 'admin:a');
    t.hub.storage.tx(() => t.hub.saleService.record('S1', 'R1', 'store', sale('1001', '2026-11-27T09:00:00Z'), null));
    const id = t.hub.erpFeed.read(0, 1).entries[0]!.id;
    expect(scalar(t.hub.storage.db, `SELECT id FROM webhook_messages WHERE type = 'sale.recorded'`)).toBe(id);
  });

  it('a refused event is on the feed even when the store announces refusals by exception only', () => {
    t.hub.useCases.settings.setSyncSettings('admin:a', 'S1', { refusedEvents: 'exception' }, {});
    t.hub.webhooks.add({ url: 'https://erp.example/hook', events: ['return.exception'] }, 'admin:a');
    t.hub.applier.applyBatch('S1', 'a1', 'i1', [{ ...wireSale(1, 'e1', '1'), kind: 'teleport' }]);
    expect(t.hub.erpFeed.read(0, 10, { types: ['return.exception'] }).entries[0]?.data).toMatchObject({
      code: 'unknown_kind',
      origin: 'refused',
    });
    expect(scalar(t.hub.storage.db, `SELECT COUNT(*) FROM webhook_messages`)).toBe(0);
  });

  it('reads by filter: a store, types, a day — and `next` goes past what the filter skipped', () => {
    for (let i = 1; i <= 3; i++)
      t.hub.storage.tx(() =>
        t.hub.saleService.record(
          i === 2 ? 'S2' : 'S1',
          'R1',
          'store',
          sale(String(i), `2026-11-2${i}T12:00:00Z`),
          null,
        ),
      );
    const head = t.hub.erpFeed.head();
    expect(t.hub.erpFeed.read(0, 100, { store: 'S2' }).entries.map((e) => e.data.receipt ?? e.data.ref)).toEqual([
      '2',
      '2',
      '2',
    ]);
    const sales = t.hub.erpFeed.read(0, 100, { types: ['sale.recorded'] });
    expect(sales.entries.map((e) => e.data.receipt)).toEqual(['1', '2', '3']);
    expect(sales.next).toBe(head);
    expect(
      t.hub.erpFeed.read(0, 100, { day: '2026-11-23', types: ['sale.recorded'] }).entries.map((e) => e.data.receipt),
    ).toEqual(['3']);
    // a page of one: the next read starts after it
    const one = t.hub.erpFeed.read(0, 1, { types: ['sale.recorded'] });
    expect(t.hub.erpFeed.read(one.next, 1, { types: ['sale.recorded'] }).entries[0]!.data.receipt).toBe('2');
  });

  it("the newest entries of some types, the whole feed's or one store's, however busy the other stores were", () => {
    const record = (store: string, receipt: string): void => {
      t.hub.storage.tx(() =>
        t.hub.saleService.record(store, 'R1', 'store', sale(receipt, '2026-11-21T12:00:00Z'), null),
      );
    };
    record('S1', 'S1-1');
    askReturn(t.hub, 'S1', 'auth-1', 'S1-1', 1);
    record('S1', 'S1-2');
    // S2 then puts 1,200 sales on the feed: more than a look at the feed's last 1,000 entries would see past
    t.hub.storage.tx(() => {
      for (let i = 0; i < 1200; i++)
        t.hub.saleService.record('S2', 'R1', 'store', sale(`S2-${i}`, '2026-11-21T13:00:00Z'), null);
    });
    const receipts = (es: FeedEntry[]): unknown[] => es.map((e) => e.data.receipt);
    expect(receipts(t.hub.erpFeed.latestOf(['sale.recorded'], 50, 'S1'))).toEqual(['S1-2', 'S1-1']);
    const decisions = ['return.authorized', 'return.denied'];
    expect(t.hub.erpFeed.latestOf(decisions, 10, 'S1').map((e) => e.data.authorization)).toEqual(['auth-1']);
    expect(t.hub.erpFeed.latestOf(decisions, 10).map((e) => e.data.authorization)).toEqual(['auth-1']);
    expect(receipts(t.hub.erpFeed.latestOf(['sale.recorded'], 3))).toEqual(['S2-1199', 'S2-1198', 'S2-1197']);
    expect(t.hub.erpFeed.latestOf(decisions, 10, 'S2')).toEqual([]);
  });

  it('consumers: ack moves forward; back only with rewind; never past the head; lag is what is left', () => {
    for (let i = 1; i <= 2; i++)
      t.hub.storage.tx(() =>
        t.hub.saleService.record('S1', 'R1', 'store', sale(String(i), '2026-11-27T09:00:00Z'), null),
      );
    const head = t.hub.erpFeed.head();
    expect(t.hub.useCases.feed.ack('admin:a', 'erp-sales', 2)).toMatchObject({
      name: 'erp-sales',
      position: 2,
      lag: head - 2,
    });
    expect(() => t.hub.useCases.feed.ack('admin:a', 'erp-sales', 1)).toThrow(/would go back/);
    expect(() => t.hub.useCases.feed.ack('admin:a', 'erp-sales', head + 1)).toThrow(/past the feed's head/);
    expect(() => t.hub.useCases.feed.ack('admin:a', 'no spaces', 1)).toThrow(/consumer: expected a name/);
    expect(t.hub.useCases.feed.ack('admin:a', 'erp-sales', 1, { rewind: true }).position).toBe(1);
    expect(t.hub.audit.tail(1)[0]).toMatchObject({ action: 'feed.rewind', resource: 'feed-consumer:erp-sales' });
    expect(t.hub.erpFeed.consumers()).toEqual([
      expect.objectContaining({ name: 'erp-sales', position: 1, lag: head - 1 }),
    ]);
    expect(t.hub.useCases.feed.remove('admin:a', 'erp-sales')).toBe(true);
    expect(t.hub.erpFeed.consumers()).toEqual([]);
  });

  it('waitPast wakes when an entry commits', async () => {
    const woke = t.hub.erpFeed.waitPast(0, 60_000);
    t.hub.storage.tx(() => t.hub.saleService.record('S1', 'R1', 'store', sale('1', '2026-11-27T09:00:00Z'), null));
    await woke;
    expect(t.hub.erpFeed.waiting()).toBe(0);
  });
});

describe('GET /v1/feed and tillbridge-hub feed, on a real HTTP server', () => {
  let t: ReturnType<typeof testHub>;
  let api: Server;
  let url: string;
  let admin: string;
  let operator: string;
  const dir = mkdtempSync(join(tmpdir(), 'tb-feed-cli-'));

  beforeAll(async () => {
    t = testHub();
    t.hub.stores.create('S1', 'One');
    admin = t.hub.credentials.createAdminToken('admin', 'ops').secret;
    operator = t.hub.credentials.createAdminToken('operator', 'erp job').secret;
    const router = new Router();
    const { queries, ...useCases } = wireUseCases(t.hub);
    feedRoutes(router, { ...useCases, queries });
    api = createServer((req, res) => void router.handle(req, res));
    await new Promise<void>((ok) => api.listen(0, '127.0.0.1', ok));
    url = `http://127.0.0.1:${(api.address() as AddressInfo).port}`;
    for (let i = 1; i <= 3; i++)
      t.hub.storage.tx(() =>
        t.hub.saleService.record('S1', 'R1', 'store', sale(String(i), '2026-11-27T09:00:00Z'), null),
      );
  });
  afterAll(async () => {
    api.closeAllConnections();
    await new Promise((ok) => api.close(ok));
    t.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  const get = async (token: string, q: string): Promise<{ status: number; body: Record<string, unknown> }> => {
    const r = await fetch(`${url}/v1/feed?${q}`, { headers: { authorization: `Bearer ${token}` } });
    return { status: r.status, body: (await r.json()) as Record<string, unknown> };
  };

  it('answers pages after a position, with next and head', async () => {
    const r = await get(operator, 'after=0&limit=4');
    expect(r.status).toBe(200);
    expect((r.body.entries as FeedEntry[]).map((e) => e.position)).toEqual([1, 2, 3, 4]);
    expect(r.body).toMatchObject({ next: 4, head: 9 });
  });

  it.each([
    ['after=-1', 'after: expected a whole number'],
    ['limit=5000', 'limit'],
    ['type=sale.made', 'type: expected one of sale.recorded'],
    ['day=2026-02-30', 'day'],
    ['wait=600', 'wait'],
  ])('refuses the bad parameter %s, naming it', async (query, named) => {
    expect(await get(operator, query)).toMatchObject({
      status: 400,
      body: { message: expect.stringContaining(named) },
    });
  });

  it('refuses a request without a token', async () => {
    expect((await fetch(`${url}/v1/feed`)).status).toBe(401);
  });

  it('long polling: a request waiting past the head is answered when a sale commits', async () => {
    const waiting = get(operator, 'after=9&wait=30');
    await vi.waitFor(() => expect(t.hub.erpFeed.waiting()).toBe(1));
    t.hub.storage.tx(() => t.hub.saleService.record('S1', 'R1', 'store', sale('4', '2026-11-27T09:00:00Z'), null));
    const r = await waiting;
    expect((r.body.entries as FeedEntry[])[0]).toMatchObject({ position: 10, type: 'sale.recorded' });
  });

  it('a client that gives up its long poll leaves no waiter behind', async () => {
    const ac = new AbortController();
    const p = fetch(`${url}/v1/feed?after=1000000&wait=30`, {
      headers: { authorization: `Bearer ${operator}` },
      signal: ac.signal,
    }).catch(() => 'aborted');
    await vi.waitFor(() => expect(t.hub.erpFeed.waiting()).toBe(1));
    ac.abort();
    expect(await p).toBe('aborted');
    await vi.waitFor(() => expect(t.hub.erpFeed.waiting()).toBe(0));
  });

  it('a consumer acks with an operator token and resumes after its position; rewinding needs admin', async () => {
    const ack = (token: string, body: unknown) =>
      fetch(`${url}/v1/feed/consumers/erp-sales/ack`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    expect((await ack(operator, { position: 5 })).status).toBe(200);
    expect((await get(operator, 'consumer=erp-sales&limit=1')).body.entries).toEqual([
      expect.objectContaining({ position: 6 }),
    ]);
    expect((await ack(operator, { position: 2, rewind: true })).status).toBe(403);
    expect((await ack(operator, { position: 'five' })).status).toBe(400);
    expect((await ack(admin, { position: 2, rewind: true })).status).toBe(200);
  });

  const cli = (token: string, ...args: string[]) => runCli((ctx) => feedCommands(ctx), url, token, ['feed', ...args]);

  it('feed tail prints a page; --json one entry per line', async () => {
    const human = await cli(operator, 'tail', '--after', '0', '--limit', '2');
    expect(human.code).toBe(0);
    expect(human.stdout.trim().split('\n')).toEqual([
      expect.stringMatching(/^1 {2}.*sale\.recorded {2}S1 {2}2026-11-27 {2}evt_\w+ {2}receipt 1 total 2250 EUR$/),
      expect.stringMatching(/^2 .*inventory\.adjusted.*A -2 → /),
    ]);
    const json = await cli(operator, 'tail', '--after', '0', '--type', 'sale.recorded', '--json');
    expect(
      json.stdout
        .trim()
        .split('\n')
        .map((l) => (JSON.parse(l) as FeedEntry).data.receipt),
    ).toEqual(['1', '2', '3', '4']);
  });

  it('feed export writes every entry up to the head as JSON lines', async () => {
    const file = join(dir, 'out.jsonl');
    const r = await cli(operator, 'export', '--after', '2', '--out', file);
    expect(r.code).toBe(0);
    const lines = readFileSync(file, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as FeedEntry);
    expect(lines.map((e) => e.position)).toEqual([3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
    expect(r.stderr).toContain('10 entries exported, up to position 12');
  });

  it('feed ack and consumers; a bad position exits 2 naming it', async () => {
    expect((await cli(operator, 'ack', 'erp-stock', '7')).stdout).toContain(
      'consumer erp-stock is at 7 (5 behind the head)',
    );
    const list = JSON.parse((await cli(operator, 'consumers', '--json')).stdout) as FeedConsumer[];
    expect(list.map((c) => [c.name, c.position])).toEqual([
      ['erp-sales', 2],
      ['erp-stock', 7],
    ]);
    const bad = await cli(operator, 'ack', 'erp-stock', 'seven');
    expect(bad).toMatchObject({ code: 2, stderr: expect.stringContaining('position: expected a whole number') });
    expect((await cli(operator, 'forget', 'erp-stock')).code).toBe(4); // operators only read (and ack)
    expect((await cli(admin, 'forget', 'erp-stock')).stdout).toContain('forgotten');
  });
});
