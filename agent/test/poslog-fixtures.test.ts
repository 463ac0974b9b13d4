import { vendorFixtures } from '@tillbridge/scripts/lib/fixtures';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { toCanonical } from '../src/gateway/canonical.js';
import { PoslogCodec, PoslogCodecConfigSchema } from '../src/gateway/codecs/poslog/codec.js';
import { canonicalSale, saleLines } from './support/canonical-sales.js';

/** Real documents written by POS vendors, read unchanged from the shared fixtures (see SOURCES.md there). */
const FIXTURES = vendorFixtures('poslog');
const NCR_SMALL = 'kjbreil-poslog-ncr-acs-small-sale.xml';
const NCR_COUPON = 'kjbreil-poslog-ncr-acs-sale-mfr-coupon.xml';
const DR_SALE = 'swedishpaymentandecrgroup-digital-receipt-standard-sale.xml';
const DR_RETURN = 'swedishpaymentandecrgroup-digital-receipt-standard-return.xml';
const DR_CARD = 'swedishpaymentandecrgroup-digital-receipt-standard-sample-2-card.xml';
const ALL = [NCR_SMALL, NCR_COUPON, DR_SALE, DR_RETURN, DR_CARD];

function fixture(name: string): Buffer {
  return readFileSync(join(FIXTURES, name));
}

function codec(extra: Record<string, unknown> = {}): PoslogCodec {
  return new PoslogCodec(PoslogCodecConfigSchema.parse({ type: 'poslog', ...extra }));
}

/** Decodes a fixture, expecting messages; returns them as plain records. */
function decode(name: string, c = codec()): Record<string, unknown>[] {
  const r = c.decode(fixture(name));
  if (r.kind !== 'messages') throw new Error(`${name}: ${r.code} ${r.message}`);
  return r.messages as Record<string, unknown>[];
}

function canonical(msg: unknown): Record<string, unknown> {
  const r = toCanonical(structuredClone(msg));
  expect(r, JSON.stringify(r)).toMatchObject({ ok: true });
  if (!r.ok) throw new Error(r.message);
  return r.message;
}

beforeAll(() => {
  if (!existsSync(FIXTURES)) throw new Error(`the public POSLog fixtures are missing: expected them in ${FIXTURES}`);
  const present = readdirSync(FIXTURES);
  for (const name of ALL)
    if (!present.includes(name)) throw new Error(`public POSLog fixture missing: ${join(FIXTURES, name)}`);
});

describe('poslog codec on the public fixtures', () => {
  it('NCR ACS small sale: skips the sign-on, keeps the weighed item (0.42) and the debit tender', () => {
    const msgs = decode(NCR_SMALL);
    expect(msgs).toHaveLength(1);
    const sale = canonical(msgs[0]);
    const lines = saleLines([1, '00000000067591', 0.42, 299]);
    expect(sale).toMatchObject(canonicalSale('9-34-161-20170930', '2017-10-01T02:02:54Z', 'USD', lines, ['card', 107]));
    expect((sale.tenders as Record<string, unknown>[])[0]).not.toHaveProperty('pan');
  });

  it(
    'NCR ACS sale with a manufacturer coupon: 12 lines, ' + 'weights, a price override, coupon + card = grand total',
    () => {
      const msgs = decode(NCR_COUPON);
      expect(msgs).toHaveLength(1);
      const sale = canonical(msgs[0]) as {
        receipt: string;
        at: string;
        lines: { line: number; sku: string; qty: number; unitPrice: number }[];
        tenders: { kind: string; amount: number }[];
      };
      expect(sale.receipt).toBe('9-1-36-20181123');
      expect(sale.at).toBe('2018-11-23T08:05:12Z');
      expect(sale.lines.map((l) => l.line)).toEqual([2, 3, 4, 5, 6, 7, 9, 10, 11, 12, 13, 14]);
      expect(sale.lines.filter((l) => !Number.isInteger(l.qty)).map((l) => l.qty)).toEqual([2.31, 0.39, 0.75, 0.53]);
      expect(sale.lines.find((l) => l.line === 4)).toEqual({
        line: 4,
        sku: '00000000038966',
        qty: 2.31,
        unitPrice: 179,
      });
      // regular 5.00 but charged 2.50: the price that reproduces ExtendedAmount wins
      expect(sale.lines.find((l) => l.line === 9)).toEqual({ line: 9, sku: '00000000063463', qty: 1, unitPrice: 250 });
      expect(sale.tenders).toEqual([
        { kind: 'coupon', amount: 100 },
        { kind: 'card', amount: 4239 },
      ]);
      expect(sale.tenders.reduce((s, t) => s + t.amount, 0)).toBe(4339); // TransactionGrandAmount 43.39
    },
  );

  it('DigitalReceipt sale: se:ReceiptCode is the receipt, Units="2" doubles the quantity, gift card and cash', () => {
    const sale = canonical(decode(DR_SALE)[0]);
    const lines = saleLines(
      [1, '608794', 2, 6900],
      [2, '923048', 1, 4900],
      [3, '912042', 1, 39500],
      [4, '608003', 1, 150],
    );
    expect(sale).toMatchObject(
      canonicalSale('1281111260543493', '2017-12-02T11:49:00+01:00', 'SEK', lines, ['giftcard', 50300], ['cash', 5550]),
    );
  });

  it('DigitalReceipt return resolves to the DigitalReceipt sale: same receipt, the item named by sku', () => {
    const [sale] = decode(DR_SALE);
    const msgs = decode(DR_RETURN);
    expect(msgs).toEqual([
      {
        type: 'return.request',
        id: expect.any(String),
        receipt: '1281111260543493',
        lines: [{ sku: '923048', qty: 1, reason: 'NA' }],
      },
    ]);
    expect(msgs[0]!.receipt).toBe(sale!.receipt);
    expect((sale!.lines as { sku: string }[]).some((l) => l.sku === '923048')).toBe(true);
    expect(canonical(msgs[0])).toMatchObject({
      receipt: '1281111260543493',
      lines: [{ sku: '923048', qty: 1, reason: 'NA', disposition: 'restock' }],
    });
    // se:ReceiptCode / se:ReceiptCodeLink win whatever the receiptKey
    expect(decode(DR_RETURN, codec({ receiptKey: 'transaction-id' }))[0]!.receipt).toBe(
      decode(DR_SALE, codec({ receiptKey: 'transaction-id' }))[0]!.receipt,
    );
  });

  it(
    'DigitalReceipt supermarket copy: 22 sale lines with weights, ' +
      '5-decimal amounts, the base64 PAN decoded to its masked form',
    () => {
      const msgs = decode(DR_CARD, codec({ timeZone: 'Europe/Stockholm' }));
      expect(msgs).toHaveLength(1);
      const sale = canonical(msgs[0]) as {
        receipt: string;
        at: string;
        currency: string;
        lines: { line: number; sku: string; qty: number; unitPrice: number }[];
        tenders: unknown[];
      };
      expect(sale.receipt).toBe('276992-2-12201-20160529'); // no BusinessDayDate: the date of its ReceiptDateTime
      expect(sale.at).toBe('2016-05-29T13:53:12+02:00');
      expect(sale.currency).toBe('SEK');
      expect(sale.lines).toHaveLength(22);
      expect(sale.lines.map((l) => l.line)).not.toContain(5); // a Discount line item
      expect(sale.lines[0]).toEqual({ line: 1, sku: '2317438900009', qty: 1.295, unitPrice: 990 });
      expect(sale.lines.find((l) => l.line === 22)).toEqual({
        line: 22,
        sku: '7310072766203',
        qty: 4,
        unitPrice: 3095,
      });
      expect(sale.lines.filter((l) => !Number.isInteger(l.qty)).map((l) => l.qty)).toEqual([
        1.295, 0.935, 0.38, 0.79, 0.38,
      ]);
      expect(sale.tenders).toEqual([{ kind: 'card', amount: 70447, pan: '************4044' }]);
    },
  );

  it('every fixture decodes to the same ids every time, and no two messages share an id', () => {
    const ids = ALL.flatMap((name) => decode(name).map((m) => m.id as string));
    const again = ALL.flatMap((name) => decode(name).map((m) => m.id as string));
    expect(again).toEqual(ids);
    expect(new Set(ids).size).toBe(ids.length);
    for (const id of ids) expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    for (const name of ALL) for (const m of decode(name)) canonical(m);
  });
});
