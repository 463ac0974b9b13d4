import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FEED_DATA_SCHEMAS, FEED_ENTRY_SCHEMA, feedJsonSchemas } from '../src/feed/event-schemas.js';
import { FEED_EVENT_TYPES, type FeedEntry } from '../src/feed/feed.js';
import { recordSale, testHub, wireDayClose, wireSale } from './helpers.js';
import { askReturn, completeReturn } from './returns-support.js';

/**
 * The JSON Schema files ERP integrators code against (central/schemas/feed/): written from the
 * hub's own schemas, and every entry the hub writes — through the real domain, for each event
 * type — is valid against them, checked by an independent JSON Schema validator.
 */
const DIR = join(import.meta.dirname, '..', 'schemas', 'feed');

describe('the feed’s JSON Schema files', () => {
  it('are what the code says (npm run schemas writes them): one per event type, and the entry', () => {
    const want = feedJsonSchemas();
    expect(readdirSync(DIR).sort()).toEqual(Object.keys(want).sort());
    for (const [name, schema] of Object.entries(want))
      expect(JSON.parse(readFileSync(join(DIR, name), 'utf8')), name).toEqual(schema);
    expect(Object.keys(want)).toHaveLength(FEED_EVENT_TYPES.length + 1);
  });
});

describe('every entry the hub writes is valid against its schema', () => {
  let t: ReturnType<typeof testHub>;
  let entries: FeedEntry[];
  const ajv = new Ajv2020({ strict: false, validateFormats: false, allErrors: true });
  const file = (name: string): object => JSON.parse(readFileSync(join(DIR, name), 'utf8')) as object;

  beforeAll(() => {
    t = testHub();
    t.hub.stores.create('S1', 'One');
    const h = t.hub;
    const tenders = [{ kind: 'card', amount: 3000, pan: '424242******4242' }];
    recordSale(h, 'S1', { receipt: 'T-1', qty: 3, tenders, requestId: 'm1', eventId: 'ev-1' });
    const ask = (authorization: string, qty: number) => askReturn(h, 'S1', authorization, 'T-1', qty);
    const complete = (authorization: string, qty: number, amount: number) =>
      completeReturn(h, 'S1', authorization, qty, { kind: 'card', amount });
    expect(ask('a-1', 1).decision).toBe('approved');
    complete('a-1', 1, 1000);
    expect(ask('a-2', 1).decision).toBe('approved');
    h.storage.tx(() => h.completion.cancel('S1', 'R1', { authorization: 'a-2', requestId: 'x-2' }));
    expect(ask('a-3', 5).decision).toBe('denied');
    expect(ask('a-4', 1).decision).toBe('approved');
    expect(complete('a-4', 1, 5000)).toEqual({ exception: 'refund_exceeds_authorized' }); // flagged
    const open = h.exceptions.forAuthorization('a-4')[0]!;
    h.useCases.returns.resolveException('admin:a', open.id, 'accept', 'refund checked with the customer');
    h.applier.applyBatch('S1', 'agent-1', 'i1', [{ ...wireSale(1, 'bad-1', 'X'), kind: 'teleport' }]); // refused
    // two registers' days: one that matches, one whose card total is off
    for (const [register, receipt, kind, amount] of [
      ['R2', 'T-2', 'cash', 500],
      ['R3', 'T-3', 'card', 700],
    ] as const) {
      recordSale(h, 'S1', {
        receipt,
        register,
        qty: 1,
        unitPrice: amount,
        at: '2026-11-27T11:00:00Z',
        tenders: [{ kind, amount }],
        requestId: `m-${receipt}`,
        eventId: `ev-${receipt}`,
      });
    }
    const close = (seq: number, register: string, receipt: string, kind: string, amount: number, reported: number) =>
      wireDayClose(
        seq,
        `close-${register}`,
        {
          requestId: `z-${register}`,
          currency: 'EUR',
          sales: { count: 1, amount },
          tenders: [{ kind, amount: reported }],
          receipts: [receipt],
        },
        { register, at: '2026-11-27T21:00:00.000Z' },
      );
    h.applier.applyBatch('S1', 'agent-1', 'i1', [
      close(2, 'R2', 'T-2', 'cash', 500, 500),
      close(3, 'R3', 'T-3', 'card', 700, 800),
    ]);
    entries = h.erpFeed.read(0, 1000).entries;
  });
  afterAll(() => t.cleanup());

  it('the flow put every type on the feed', () => {
    const seen = new Set(entries.map((e) => e.type));
    for (const type of FEED_EVENT_TYPES) expect(seen.has(type), type).toBe(true);
  });

  it('each entry and its data are valid (the JSON files, by ajv; the code’s schemas, by zod)', () => {
    const entry = ajv.compile(file('entry.schema.json'));
    for (const e of entries) {
      expect(entry(e), `${e.type} ${JSON.stringify(entry.errors)}`).toBe(true);
      const data =
        ajv.getSchema(`https://tillbridge.example/schemas/feed/${e.type}.schema.json`) ??
        ajv.compile(file(`${e.type}.schema.json`));
      expect(data(e.data), `${e.type} ${JSON.stringify(data.errors)}`).toBe(true);
      expect(FEED_ENTRY_SCHEMA.safeParse(e).success).toBe(true);
      expect(FEED_DATA_SCHEMAS[e.type].safeParse(e.data).success, e.type).toBe(true);
    }
  });

  it('an entry that breaks its schema is caught (the check can fail)', () => {
    const sale = entries.find((e) => e.type === 'sale.recorded')!;
    const data = ajv.getSchema('https://tillbridge.example/schemas/feed/sale.recorded.schema.json')!;
    expect(data({ ...sale.data, total: '30.00' })).toBe(false);
    const { receipt: _gone, ...noReceipt } = sale.data;
    expect(data(noReceipt)).toBe(false);
    const entry = ajv.getSchema('https://tillbridge.example/schemas/feed/entry.schema.json')!;
    expect(entry({ ...sale, businessDay: '27/11/2026' })).toBe(false);
  });
});
