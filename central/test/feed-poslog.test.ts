import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SaleEventBody } from '@tillbridge/shared';
import { PoslogCodec, PoslogCodecConfigSchema } from '../../agent/src/gateway/codecs/poslog/codec.js';
import { feedPoslogCommand } from '../src/cli/commands/feed-poslog.js';
import type { FeedEntry } from '../src/feed/feed.js';
import { ARTS_NAMESPACE, exportPoslogDay, feedDayEntries } from '../src/feed/poslog-export.js';
import { feedPoslogRoutes } from '../src/http/admin/feed-poslog.js';
import { Router } from '../src/http/router.js';
import { wireUseCases } from '../src/usecases/index.js';
import { testHub } from './helpers.js';
import { askReturn, completeReturn } from './returns-support.js';
import { runCli } from './cli-run.js';

/**
 * The POSLog export of a store's business day (docs/erp-feed-poslog.md): sales and a completed
 * return recorded through the hub's domain path, exported from the ERP feed, read back with the
 * agent's own POSLog codec, through the admin API on a real HTTP server and through the CLI.
 */

let t: ReturnType<typeof testHub>;
let api: Server;
let apiUrl: string;
let operator: string;
let xml: string;
let dir: string;
const DAY = '2026-11-27';

const listen = async (s: Server): Promise<string> => {
  await new Promise<void>((ok) => s.listen(0, '127.0.0.1', ok));
  return `http://127.0.0.1:${(s.address() as AddressInfo).port}`;
};

function sell(
  store: string,
  register: string,
  receipt: string,
  at: string,
  lines: SaleEventBody['lines'],
  tenders: SaleEventBody['tenders'] = [],
): void {
  t.clock.t = Date.parse(at) + 1000;
  t.hub.storage.tx(() =>
    t.hub.saleService.record(
      store,
      register,
      'store',
      { requestId: `m-${receipt}`, receipt, at, currency: 'EUR', lines, tenders },
      `e-${receipt}`,
    ),
  );
}

/** A sale of one unit of `sku` at `unitPrice` (line 1). */
const sellOne = (
  store: string,
  register: string,
  receipt: string,
  at: string,
  sku: string,
  unitPrice: number,
  tenders: SaleEventBody['tenders'] = [],
): void => sell(store, register, receipt, at, [{ line: 1, sku, qty: 1, unitPrice }], tenders);

/** A sale.recorded entry at position 1 as the feed holds it: one unit of SKU A sold at S1 on DAY for `total`. */
const saleEntry = (
  id: string,
  receipt: string,
  currency: string,
  total: number,
  tenders: SaleEventBody['tenders'],
): FeedEntry => ({
  position: 1,
  id,
  type: 'sale.recorded',
  store: 'S1',
  businessDay: DAY,
  at: '2026-11-27T10:00:00.000Z',
  recordedAt: '2026-11-27T10:00:00.000Z',
  data: {
    store: 'S1',
    receipt,
    register: 'R1',
    at: '2026-11-27T10:00:00Z',
    currency,
    total,
    lines: [{ line: 1, sku: 'A', qty: 1, unitPrice: total }],
    tenders,
  },
});

const entries = (store: string, day: string): FeedEntry[] => [...feedDayEntries(t.hub.erpFeed, store, day)];
const saleOf = (store: string, receipt: string) => t.hub.sales.named(receipt, store);

beforeAll(async () => {
  t = testHub();
  dir = mkdtempSync(join(tmpdir(), 'tb-poslog-'));
  t.hub.stores.create('S1', 'Berlin Mitte');
  t.hub.stores.create('S2', 'Hamburg');
  const useCases = wireUseCases(t.hub);
  // the store's business day is the date in Europe/Berlin (sync setting timeZone)
  useCases.settings.setSyncSettings('admin:test', 'S1', { timeZone: 'Europe/Berlin' }, {});
  operator = t.hub.credentials.createAdminToken('operator', 'night shift').secret;

  // 23:59 on the 26th in Berlin
  sellOne('S1', 'R1', 'S1-0099', '2026-11-26T22:59:00Z', 'EARLY', 100);
  sell(
    'S1',
    'R1',
    'S1-0100',
    '2026-11-27T09:15:00Z',
    [
      { line: 1, sku: 'SHIRT-M', qty: 2, unitPrice: 1999 },
      { line: 2, sku: 'APPLES & <PEARS>', qty: 0.42, unitPrice: 349 },
      { line: 3, sku: 'SOCKS', qty: 3, unitPrice: 500 },
    ],
    [{ kind: 'card', amount: 5645, pan: '411111******1111' }],
  );
  sellOne('S1', 'R2', 'S1-0101', '2026-11-27T11:00:00Z', 'BAG', 250, [{ kind: 'cash', amount: 500 }]);
  // 23:30 in Berlin: the 27th
  sellOne('S1', 'R1', 'S1-0102', '2026-11-27T22:30:00Z', 'LATE', 700, [{ kind: 'cash', amount: 700 }]);
  // 00:30 on the 28th in Berlin
  sellOne('S1', 'R3', 'S1-0103', '2026-11-27T23:30:00Z', 'NEXTDAY', 800);
  sellOne('S2', 'R1', 'S2-0100', '2026-11-27T10:00:00Z', 'OTHERSTORE', 900);

  // a return of one shirt of S1-0100, authorized and completed at 12:00 UTC (13:00 in Berlin)
  t.clock.t = Date.parse('2026-11-27T12:00:00Z');
  const decision = askReturn(t.hub, 'S1', 'auth-1', 'S1-0100', 1, { register: 'R2' });
  expect(decision).toMatchObject({ decision: 'approved', refundAmount: 1999 });
  completeReturn(t.hub, 'S1', 'auth-1', 1, { kind: 'card', amount: 1999 }, 'R2');

  xml = exportPoslogDay(entries('S1', DAY), { store: 'S1', day: DAY, saleOf });

  const router = new Router();
  const { queries, ...rest } = useCases;
  feedPoslogRoutes(router, { ...rest, queries });
  api = createServer((req, res) => void router.handle(req, res));
  // This file's large exports hold the event loop for seconds on a busy machine. The server's idle timeout (5 s) could
  // then close a kept-alive connection just as the test's next fetch went out on it ("other side closed", seen with
  // the clock a year ahead and both cores busy): only the client closes idle connections here (afterAll the rest).
  api.keepAliveTimeout = 0;
  apiUrl = await listen(api);
});

afterAll(async () => {
  api.closeAllConnections();
  await new Promise<void>((ok) => api.close(() => ok()));
  t.cleanup();
  rmSync(dir, { recursive: true, force: true });
});

const parser = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: '@_',
  parseTagValue: false,
  isArray: (name) => ['Transaction', 'LineItem', 'Total'].includes(name),
});
type Tx = Record<string, unknown> & { RetailTransaction: { LineItem: Record<string, unknown>[] } };
const transactions = (doc: string): Tx[] =>
  (parser.parse(doc) as { POSLog: { Transaction?: Tx[] } }).POSLog.Transaction ?? [];

describe('the POSLog export of a business day', () => {
  it('is well-formed XML in the ARTS namespace, one Transaction per sale and per completed return', () => {
    expect(XMLValidator.validate(xml)).toBe(true);
    const doc = parser.parse(xml) as { POSLog: Record<string, unknown> };
    expect(doc.POSLog['@_xmlns']).toBe(ARTS_NAMESPACE);
    const txs = transactions(xml);
    // feed (commit) order
    expect(txs.map((x) => x.SequenceNumber)).toEqual(['S1-0100', 'S1-0101', 'S1-0102', 'auth-1']);
    expect(txs[0]).toMatchObject({
      RetailStoreID: 'S1',
      WorkstationID: 'R1',
      TransactionID: 'S1-0100',
      BusinessDayDate: DAY,
      CurrencyCode: 'EUR',
      BeginDateTime: '2026-11-27T09:15:00.000Z',
    });
    // the escaped item id comes back as it was
    const items = txs[0]!.RetailTransaction.LineItem;
    expect(items[1]).toMatchObject({
      SequenceNumber: '2',
      Sale: { ItemID: 'APPLES & <PEARS>', Quantity: '0.42', RegularSalesUnitPrice: '3.49', ExtendedAmount: '1.47' },
    });
    expect(items[3]).toMatchObject({
      Tender: {
        '@_TenderType': 'CreditDebit',
        '@_TypeCode': 'Sale',
        Amount: '56.45',
        CreditDebit: { PrimaryAccountNumber: '411111******1111' },
      },
    });
    expect(txs[0]!.RetailTransaction).toMatchObject({
      Total: [
        { '@_TotalType': 'TransactionGrossAmount', '#text': '56.45' },
        { '#text': '56.45' },
        { '@_TotalType': 'TransactionTenderApplied', '#text': '56.45' },
      ],
    });
    expect(xml).toContain('APPLES &amp; &lt;PEARS&gt;');
  });

  it('the return: its authorization, a link to the original receipt and line, the refund tender', () => {
    const ret = transactions(xml).find((x) => x.SequenceNumber === 'auth-1')!;
    expect(ret).toMatchObject({
      '@_TypeCode': 'ReturnTransaction',
      RetailStoreID: 'S1',
      WorkstationID: 'R2',
      BusinessDayDate: DAY,
      CurrencyCode: 'EUR',
    });
    expect(ret.RetailTransaction.LineItem).toEqual([
      {
        SequenceNumber: '1',
        Return: {
          '@_ItemType': 'Stock',
          TransactionLink: {
            '@_ReasonCode': 'Return',
            RetailStoreID: 'S1',
            TransactionID: 'S1-0100',
            LineItemSequenceNumber: '1',
          },
          ItemID: 'SHIRT-M',
          RegularSalesUnitPrice: '19.99',
          ExtendedAmount: '19.99',
          Quantity: '1',
          Disposal: { Method: 'ReturnToStock' },
        },
      },
      { SequenceNumber: '2', Tender: { '@_TenderType': 'CreditDebit', '@_TypeCode': 'Refund', Amount: '19.99' } },
    ]);
    expect((ret.RetailTransaction as unknown as { Total: unknown[] }).Total).toEqual([
      { '@_TotalType': 'TransactionGrossAmount', '@_TypeCode': 'Return', '#text': '19.99' },
      { '@_TotalType': 'TransactionGrandAmount', '@_TypeCode': 'Return', '#text': '19.99' },
      { '@_TotalType': 'TransactionTenderApplied', '@_TypeCode': 'Return', '#text': '19.99' },
    ]);
  });

  it(
    'round trip: the agent’s POSLog codec reads back each sale as it was recorded, and the return as a return of ' +
      'that receipt',
    () => {
      const codec = new PoslogCodec(
        PoslogCodecConfigSchema.parse({ type: 'poslog', receiptKey: 'transaction-id', timeZone: 'Europe/Berlin' }),
      );
      const decoded = codec.decode(Buffer.from(xml, 'utf8'));
      expect(decoded.kind).toBe('messages');
      if (decoded.kind !== 'messages') return;
      const sales = decoded.messages.filter((m) => (m as { type: string }).type === 'sale') as {
        receipt: string;
        at: string;
        currency: string;
        lines: unknown[];
        tenders: unknown[];
      }[];
      const recorded = entries('S1', DAY)
        .filter((e) => e.type === 'sale.recorded')
        .map((e) => e.data as { receipt: string; at: string; currency: string; lines: unknown[]; tenders: unknown[] });
      expect(recorded).toHaveLength(3);
      expect(sales).toHaveLength(recorded.length);
      sales.forEach((s, i) => {
        const r = recorded[i]!;
        expect(s.receipt).toBe(r.receipt);
        expect(Date.parse(s.at)).toBe(Date.parse(r.at));
        expect(s.currency).toBe(r.currency);
        expect(s.lines).toEqual(r.lines);
        expect(s.tenders).toEqual(r.tenders);
      });
      expect(sales[0]!.lines).toEqual([
        { line: 1, sku: 'SHIRT-M', qty: 2, unitPrice: 1999 },
        { line: 2, sku: 'APPLES & <PEARS>', qty: 0.42, unitPrice: 349 },
        { line: 3, sku: 'SOCKS', qty: 3, unitPrice: 500 },
      ]);
      const ret = decoded.messages.find((m) => (m as { type: string }).type === 'return.request');
      expect(ret).toMatchObject({ receipt: 'S1-0100', lines: [{ line: 1, qty: 1, disposition: 'restock' }] });
    },
  );

  it("holds only that store's transactions of that local day (23:30 in Berlin is the same day, 00:30 the next)", () => {
    for (const r of ['S1-0100', 'S1-0101', 'S1-0102']) expect(xml).toContain(`<SequenceNumber>${r}</SequenceNumber>`);
    for (const r of ['S1-0099', 'S1-0103', 'S2-0100', 'EARLY', 'NEXTDAY', 'OTHERSTORE']) expect(xml).not.toContain(r);
    const next = exportPoslogDay(entries('S1', '2026-11-28'), { store: 'S1', day: '2026-11-28' });
    expect(transactions(next).map((x) => x.SequenceNumber)).toEqual(['S1-0103']);
    const other = exportPoslogDay(entries('S2', DAY), { store: 'S2', day: DAY });
    expect(transactions(other).map((x) => x.SequenceNumber)).toEqual(['S2-0100']);
    // entries of another store or day handed to it are left out too
    const mixed = exportPoslogDay([...entries('S2', DAY), ...entries('S1', '2026-11-28')], { store: 'S1', day: DAY });
    expect(transactions(mixed)).toEqual([]);
  });

  it('never carries a full card number, not even one that reached the feed', () => {
    expect(xml).not.toMatch(/\d{13,19}/);
    const leaked = saleEntry('evt-x', 'X-1', 'EUR', 100, [
      { kind: 'card', amount: 100, pan: '4111 1111 1111 1111' },
      { kind: 'card', amount: 0, pan: '4111111111111111' },
    ]);
    const out = exportPoslogDay([leaked], { store: 'S1', day: DAY });
    expect(out).toContain('<SequenceNumber>X-1</SequenceNumber>');
    expect(out.replace(/\s/g, '')).not.toMatch(/\d{13,19}/);
    expect(out).not.toContain('PrimaryAccountNumber');
  });

  it('reads the feed a page at a time, by position, with the store/day/type filter', () => {
    const calls: { position: number; limit: number; filter: unknown }[] = [];
    const spy = {
      read: (position: number, limit: number, filter: Parameters<typeof t.hub.erpFeed.read>[2]) => (
        calls.push({ position, limit, filter }),
        t.hub.erpFeed.read(position, limit, filter)
      ),
    };
    const paged = [...feedDayEntries(spy, 'S1', DAY, 1)];
    expect(paged.map((e) => e.id)).toEqual(entries('S1', DAY).map((e) => e.id));
    expect(paged.map((e) => e.type)).toEqual(['sale.recorded', 'sale.recorded', 'sale.recorded', 'return.completed']);
    expect(calls.length).toBe(paged.length + 1); // one entry a page, and the empty page that ends it
    expect(calls.every((c) => c.limit === 1)).toBe(true);
    expect(calls[0]!.filter).toEqual({ store: 'S1', day: DAY, types: ['sale.recorded', 'return.completed'] });
    expect(exportPoslogDay(paged, { store: 'S1', day: DAY, saleOf })).toBe(xml);
  });

  it('amounts follow the currency’s decimals (JPY 0, KWD 3) or what the caller says', () => {
    const sale = (currency: string): FeedEntry => saleEntry('e', 'Y', currency, 1234, [{ kind: 'cash', amount: 1234 }]);
    expect(exportPoslogDay([sale('JPY')], { store: 'S1', day: DAY })).toContain(
      '<RegularSalesUnitPrice>1234</RegularSalesUnitPrice>',
    );
    expect(exportPoslogDay([sale('KWD')], { store: 'S1', day: DAY })).toContain('<Amount>1.234</Amount>');
    expect(exportPoslogDay([sale('EUR')], { store: 'S1', day: DAY, currencyDecimals: { EUR: 3 } })).toContain(
      '<ExtendedAmount>1.234</ExtendedAmount>',
    );
  });
});

describe('GET /v1/admin/feed/poslog and `feed poslog`', () => {
  const get = (q: string, token = operator) =>
    fetch(`${apiUrl}/v1/admin/feed/poslog?${q}`, { headers: { authorization: `Bearer ${token}` } });

  it('an operator token reads the day as application/xml', async () => {
    const res = await get(`store=S1&day=${DAY}`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^application\/xml/);
    const body = await res.text();
    expect(XMLValidator.validate(body)).toBe(true);
    expect(body).toBe(xml);
  });

  it('a busy day (past a feed read and many socket writes) comes whole, in order', async () => {
    t.hub.stores.create('S3', 'Busy');
    t.clock.t = Date.parse('2026-11-27T15:00:00Z');
    const n = 1500;
    t.hub.storage.tx(() => {
      for (let i = 0; i < n; i++) {
        const receipt = `B-${String(i).padStart(5, '0')}`;
        t.hub.saleService.record(
          'S3',
          `R${i % 7}`,
          'store',
          {
            requestId: `m-${receipt}`,
            receipt,
            at: '2026-11-27T14:00:00Z',
            currency: 'EUR',
            lines: [{ line: 1, sku: 'A', qty: 1, unitPrice: 100 + i }],
            tenders: [{ kind: 'cash', amount: 100 + i }],
          },
          `e-${receipt}`,
        );
      }
    });
    const res = await get(`store=S3&day=${DAY}`);
    expect(res.status).toBe(200);
    const body = await res.text();
    expect(body.length).toBeGreaterThan(1024 * 1024);
    expect(body).toBe(exportPoslogDay(entries('S3', DAY), { store: 'S3', day: DAY }));
    const seqs = transactions(body).map((x) => x.SequenceNumber);
    expect(seqs).toHaveLength(n);
    expect(seqs[0]).toBe('B-00000');
    expect(seqs[n - 1]).toBe(`B-${String(n - 1).padStart(5, '0')}`);
  });

  it(
    'answers 400 naming the parameter for a day that does not exist or is missing, 404 for an unknown store, 401 ' +
      'without a token',
    async () => {
      const bad = await get('store=S1&day=2026-02-30');
      expect(bad.status).toBe(400);
      expect(((await bad.json()) as { message: string }).message).toMatch(/^day: /);
      const none = await get('store=S1');
      expect(none.status).toBe(400);
      expect(((await none.json()) as { message: string }).message).toMatch(/^day: /);
      const noStore = await get(`day=${DAY}`);
      expect(noStore.status).toBe(400);
      expect(((await noStore.json()) as { message: string }).message).toMatch(/^store: /);
      const unknown = await get(`store=NOPE&day=${DAY}`);
      expect(unknown.status).toBe(404);
      expect(((await unknown.json()) as { code: string }).code).toBe('TB_NOT_FOUND');
      expect((await get(`store=S1&day=${DAY}`, 'nonsense')).status).toBe(401);
    },
  );

  const cli = (...args: string[]) =>
    runCli((ctx) => feedPoslogCommand(ctx.program.command('feed'), ctx), apiUrl, operator, ['feed', 'poslog', ...args]);

  it('writes the file (whole, nothing beside it), or prints the document', async () => {
    const file = join(dir, 'S1-day.xml');
    const r = await cli('--store', 'S1', '--day', DAY, '--out', file);
    expect(r.stderr).toContain(`wrote ${file}`);
    expect(r.code).toBe(0);
    const written = readFileSync(file, 'utf8');
    expect(XMLValidator.validate(written)).toBe(true);
    expect(written).toBe(xml);
    expect(existsSync(`${file}.part`)).toBe(false);

    const printed = await cli('--store', 'S1', '--day', DAY);
    expect(printed.code).toBe(0);
    expect(printed.stdout).toBe(xml);
  });

  it('refuses a bad day before asking the hub, and leaves no file for an unknown store', async () => {
    const bad = await cli('--store', 'S1', '--day', '2026-02-30', '--out', join(dir, 'bad.xml'));
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/error: day: /);
    const file = join(dir, 'nope.xml');
    const unknown = await cli('--store', 'NOPE', '--day', DAY, '--out', file);
    expect(unknown.code).toBe(3);
    expect(unknown.stderr).toContain('store NOPE not found');
    expect(existsSync(file)).toBe(false);
    expect(existsSync(`${file}.part`)).toBe(false);
  });
});
