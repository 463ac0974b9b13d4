import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { TbCodes } from '@tillbridge/shared';
import type { Db } from '../src/db/agent-db.js';
import { Receipts } from '../src/core/receipts.js';
import { PoslogCodec, PoslogCodecConfigSchema } from '../src/gateway/codecs/poslog/codec.js';
import type { DecodeResult } from '../src/gateway/types.js';
import { closeTempDb, openTempDb } from './support/temp-store.js';

/**
 * A return finds its sale whatever shape its TransactionLink has (docs/poslog.md, "Receipt
 * numbers and links"): the golden sale link-sale-midnight.xml crosses midnight, and
 * link-returns.xml returns it with eight shapes of link. The sales the agent knows are its real
 * receipts table in a real SQLite file, filled as the store core fills it.
 */
const GOLDEN = fileURLToPath(new URL('./fixtures/poslog/', import.meta.url));
const SALE = 'NY7-3-815-20260314';
const NY = { timeZone: 'America/New_York' };

type Msg = Record<string, unknown> & {
  id: string;
  type: string;
  receipt: string;
  at: string;
  lines: Record<string, unknown>[];
};

let temp: { dir: string; db: Db };
let db: Db;
let receipts: Receipts;
beforeEach(() => {
  temp = openTempDb('tb-poslog-links-');
  db = temp.db;
  receipts = new Receipts(db);
});
afterEach(() => closeTempDb(temp));

function text(name: string): string {
  return readFileSync(GOLDEN + name, 'utf8');
}

/** A golden document with texts replaced (each must be there). */
function edited(name: string, ...pairs: [string, string][]): string {
  let t = text(name);
  for (const [from, to] of pairs) {
    if (!t.includes(from)) throw new Error(`${name} does not contain ${from}`);
    t = t.split(from).join(to);
  }
  return t;
}

function codec(extra: Record<string, unknown> = NY, known = true): PoslogCodec {
  return new PoslogCodec(PoslogCodecConfigSchema.parse({ type: 'poslog', ...extra }), known ? { known: receipts } : {});
}

function messages(r: DecodeResult): Msg[] {
  if (r.kind !== 'messages') throw new Error(`${r.code}: ${r.message}`);
  return r.messages as Msg[];
}

function decode(doc: string, c = codec()): Msg[] {
  return messages(c.decode(Buffer.from(doc, 'utf8')));
}

/** A receipt of store S1 in USD remembered, with the register and the time of its sale where they are known. */
function remember(receipt: string, register: string | null = null, at: string | null = null): void {
  receipts.remember({ receipt, store: 'S1', register, at, currency: 'USD', lines: [], tenderKinds: [] });
}

/** What the store core does with a committed sale: remember its receipt. */
function record(sale: Msg): void {
  expect(sale.type).toBe('sale');
  remember(sale.receipt, 'POS1', sale.at);
}

describe('return links in every shape find their sale', () => {
  it('the sale that crosses midnight is keyed by its business day', () => {
    const [sale] = decode(text('link-sale-midnight.xml'));
    expect(sale).toMatchObject({ type: 'sale', receipt: SALE, at: '2026-03-15T00:01:10-04:00' });
  });

  it(
    'with the sales this agent recorded: day, begin time (zoneless, UTC, ' +
      'offset), end time, neither, negative sale, transaction-level link',
    () => {
      record(decode(text('link-sale-midnight.xml'))[0]!);
      const returns = decode(text('link-returns.xml'));
      expect(returns.map((m) => [m.type, m.receipt])).toEqual(
        Array.from({ length: 8 }, () => ['return.request', SALE]),
      );
      expect(returns.map((m) => m.lines)).toEqual([
        [{ line: 1, qty: 1 }],
        [{ line: 1, qty: 1 }],
        [{ line: 2, qty: 1 }],
        [{ line: 2, qty: 1 }],
        [{ line: 2, qty: 1 }],
        [{ line: 2, qty: 1 }],
        [{ sku: 'BULB-E27', qty: 1 }],
        [{ sku: 'LAMP-DESK', qty: 1 }],
      ]);
    },
  );

  it(
    'without it (a sale this agent never saw): ' +
      'the day is the register date of the link time; a link with neither stays without a day',
    () => {
      const returns = decode(text('link-returns.xml'), codec(NY, false));
      expect(returns.map((m) => m.receipt)).toEqual([
        SALE,
        SALE,
        SALE,
        SALE,
        'NY7-3-815-20260315',
        'NY7-3-815',
        SALE,
        'NY7-3-815',
      ]);
    },
  );

  it('the UTC link time needs the register zone: in UTC the sale began on the 15th', () => {
    expect(decode(text('link-returns.xml'), codec({ timeZone: 'Z' }, false))[2]!.receipt).toBe('NY7-3-815-20260315');
    expect(decode(text('link-returns.xml'), codec(NY, false))[2]!.receipt).toBe(SALE);
  });

  it('a sale earlier in the same document is known too', () => {
    const sale = text('link-sale-midnight.xml').replace(/^[\s\S]*?(<Transaction>[\s\S]*<\/Transaction>)[\s\S]*$/, '$1');
    const both = text('link-returns.xml').replace(
      '<POSLog xmlns="http://www.nrf-arts.org/IXRetail/namespace/">',
      `$&${sale}`,
    );
    const msgs = decode(both, codec(NY, false));
    expect(msgs.map((m) => m.receipt)).toEqual(Array.from({ length: 9 }, () => SALE));
  });

  it(
    'a sale without BusinessDayDate is keyed by the register date its BeginDateTime: ' +
      'links with a day or a begin time find it statelessly',
    () => {
      const [sale] = decode(edited('link-sale-midnight.xml', ['<BusinessDayDate>2026-03-14</BusinessDayDate>', '']));
      expect(sale!.receipt).toBe(SALE);
      const [utcBegin] = decode(
        edited(
          'link-sale-midnight.xml',
          ['<BusinessDayDate>2026-03-14</BusinessDayDate>', ''],
          ['2026-03-14T23:59:30', '2026-03-15T03:59:30Z'],
        ),
      );
      expect(utcBegin!.receipt).toBe(SALE);
    },
  );

  it(
    'a business day that runs past midnight: ' +
      'a sale begun at 01:10 on the 15th of business day 14 is found by its begin time',
    () => {
      const late = (d: string) =>
        edited(d, ['2026-03-14T23:59:30', '2026-03-15T01:10:00'], ['2026-03-15T00:01:10', '2026-03-15T01:12:00']);
      const [sale] = decode(late('link-sale-midnight.xml'));
      expect(sale!.receipt).toBe(SALE);
      record(sale!);
      expect(decode(late('link-returns.xml')).map((m) => m.receipt)).toEqual(Array.from({ length: 8 }, () => SALE));
    },
  );

  it(
    'a sequence number the register uses again on other days: ' +
      'the nearest sale in time, or the latest before the return',
    () => {
      const day = (bdd: string, begin: string, end: string) =>
        edited(
          'link-sale-midnight.xml',
          ['2026-03-14</BusinessDayDate>', `${bdd}</BusinessDayDate>`],
          ['2026-03-14T23:59:30', begin],
          ['2026-03-15T00:01:10', end],
        );
      record(decode(day('2026-03-13', '2026-03-13T09:00:00', '2026-03-13T09:02:00'))[0]!);
      record(decode(text('link-sale-midnight.xml'))[0]!);
      record(decode(day('2026-03-16', '2026-03-16T10:00:00', '2026-03-16T10:03:00'))[0]!);
      expect(receipts.byPrefix('NY7-3-815').map((r) => r.receipt)).toEqual([
        'NY7-3-815-20260316',
        SALE,
        'NY7-3-815-20260313',
      ]);
      // links with a time: the sale nearest to it
      expect(
        decode(text('link-returns.xml'))
          .map((m) => m.receipt)
          .slice(1, 5),
      ).toEqual([SALE, SALE, SALE, SALE]);
      const endOn13 = edited('link-returns.xml', [
        '<EndDateTime>2026-03-15T00:01:10</EndDateTime>',
        '<EndDateTime>2026-03-13T09:02:00</EndDateTime>',
      ]);
      expect(decode(endOn13)[4]!.receipt).toBe('NY7-3-815-20260313');
      // a link with neither day nor time: the latest sale up to the return
      expect(decode(text('link-returns.xml'))[5]!.receipt).toBe('NY7-3-815-20260316');
      const returnedOn15 = edited(
        'link-returns.xml',
        ['2026-03-20T10:06:00', '2026-03-15T12:00:00'],
        ['2026-03-20T10:08:00', '2026-03-15T12:00:00'],
      );
      const msgs = decode(returnedOn15);
      expect([msgs[5]!.receipt, msgs[7]!.receipt]).toEqual([SALE, SALE]);
    },
  );

  it('a malformed time in a link refuses the document, naming the element', () => {
    const r = codec().decode(
      Buffer.from(
        edited('link-returns.xml', [
          '<BeginDateTime>2026-03-14T23:59:30-04:00</BeginDateTime>',
          '<BeginDateTime>2026-03-14 late</BeginDateTime>',
        ]),
      ),
    );
    expect(r.kind === 'error' && [r.code, r.message]).toEqual([
      TbCodes.INVALID,
      expect.stringMatching(/^Transaction 4: TransactionLink\/BeginDateTime: expected an ISO 8601 date-time/),
    ]);
  });

  it('a link naming the sale only by ReceiptNumber finds a sale keyed by it, as under "transaction-id"', () => {
    const sale = edited(
      'link-sale-midnight.xml',
      ['<WorkstationID>3</WorkstationID>', ''],
      ['<SequenceNumber>0815</SequenceNumber>', '<ReceiptNumber>R-0815</ReceiptNumber>'],
    );
    expect(decode(sale)[0]!.receipt).toBe('R-0815');
    const link =
      '<TransactionLink><ReceiptNumber>R-0815</ReceiptNumber>' +
      '<LineItemSequenceNumber>1</LineItemSequenceNumber></TransactionLink>';
    const ret = edited('link-returns.xml', [
      '<TransactionLink ReasonCode="Return">\n            <RetailStoreID>NY7</RetailStoreID>' +
        '<WorkstationID>3</WorkstationID>' +
        '<SequenceNumber>815</SequenceNumber>\n            ' +
        '<BusinessDayDate>2026-03-14</BusinessDayDate>' +
        '<LineItemSequenceNumber>1</LineItemSequenceNumber>\n          </TransactionLink>',
      link,
    ]);
    for (const receiptKey of ['sequence', 'transaction-id'])
      expect(decode(ret, codec({ ...NY, receiptKey }))[0]!.receipt).toBe('R-0815');
  });
});

describe('transactions without BusinessDayDate', () => {
  it('two sales with one store-workstation-sequence on two days are two receipts and two messages', () => {
    const noDay = edited('link-sale-midnight.xml', ['<BusinessDayDate>2026-03-14</BusinessDayDate>', '']);
    const nextDay = noDay
      .replace('2026-03-14T23:59:30', '2026-03-15T09:00:00')
      .replace('2026-03-15T00:01:10', '2026-03-15T09:01:00');
    const [a] = decode(noDay);
    const [b] = decode(nextDay);
    expect([a!.receipt, b!.receipt]).toEqual([SALE, 'NY7-3-815-20260315']);
    expect(a!.id).not.toBe(b!.id);
    expect(decode(noDay)[0]!.id).toBe(a!.id);
  });
});

describe('Receipts.byPrefix', () => {
  it('gives the receipts of one store-workstation-sequence, and no other', () => {
    const ofTheSequence = ['NY7-3-815', 'NY7-3-815-20260314', 'NY7-3-815-20260314-2', 'NY7-3-815-20260315'];
    const lookalikes = ['NY7-3-8150-20260314', 'NY7-3-81', 'NY7-3-815.1', 'NY7-3-815+1'];
    for (const receipt of [...ofTheSequence, ...lookalikes]) remember(receipt);
    expect(receipts.byPrefix('NY7-3-815').map((r) => r.receipt)).toEqual([
      'NY7-3-815-20260315',
      'NY7-3-815-20260314-2',
      'NY7-3-815-20260314',
      'NY7-3-815',
    ]);
  });
});
