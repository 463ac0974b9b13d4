import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { TbCodes } from '@tillbridge/shared';
import { toCanonical } from '../src/gateway/canonical.js';
import { PoslogCodec, PoslogCodecConfigSchema } from '../src/gateway/codecs/poslog/codec.js';
import type { DecodeResult } from '../src/gateway/types.js';
import { canonicalSale, saleLines, tenderList } from './support/canonical-sales.js';

/** Tillbridge's own golden documents for what the public fixtures do not show. */
const GOLDEN = fileURLToPath(new URL('./fixtures/poslog/', import.meta.url));

function golden(name: string): Buffer {
  return readFileSync(GOLDEN + name);
}

function codec(extra: Record<string, unknown> = {}): PoslogCodec {
  return new PoslogCodec(PoslogCodecConfigSchema.parse({ type: 'poslog', ...extra }));
}

type Msg = Record<string, unknown> & { id: string; type: string };

function messages(r: DecodeResult): Msg[] {
  if (r.kind !== 'messages') throw new Error(`${r.code}: ${r.message}`);
  return r.messages as Msg[];
}

function decode(name: string, extra: Record<string, unknown> = {}): Msg[] {
  return messages(codec(extra).decode(golden(name)));
}

function canonical(msg: unknown): Record<string, unknown> {
  const r = toCanonical(structuredClone(msg));
  if (!r.ok) throw new Error(`${r.code}: ${r.message}`);
  return r.message;
}

function error(r: DecodeResult): { code: string; message: string } {
  if (r.kind !== 'error') throw new Error(`expected an error, got ${JSON.stringify(r.messages)}`);
  return r;
}

/** A golden document with one text replaced (the replaced text must be there). */
function edited(name: string, from: string, to: string): Buffer {
  const text = golden(name).toString('utf8');
  if (!text.includes(from)) throw new Error(`${name} does not contain ${from}`);
  return Buffer.from(text.replace(from, to), 'utf8');
}

/** The return.complete of one unit of line 1 under the hub's `authorization`, refunded as `refund` says. */
function lineOneReturned(authorization: string, refund: Record<string, unknown>): Msg {
  return {
    type: 'return.complete',
    id: expect.any(String) as string,
    authorization,
    lines: [{ line: 1, qty: 1 }],
    refund,
  };
}

describe('namespaces, envelopes, CDATA', () => {
  it('reads a POSLog without any namespace; the defaultCurrency applies when the document has none', () => {
    const [sale] = decode('no-namespace-sale.xml', { defaultCurrency: 'EUR' });
    const lines = saleLines([1, 'TEE-BLUE-M', 2, 1999], [2, 'MUG-LOGO', 1, 899]);
    expect(canonical(sale)).toMatchObject(
      canonicalSale('S001-7-123-20261127', '2026-11-27T10:15:00+01:00', 'EUR', lines, ['cash', 4897]),
    );
    const e = error(codec().decode(golden('no-namespace-sale.xml')));
    expect(e.code).toBe(TbCodes.INVALID);
    expect(e.message).toContain('defaultCurrency');
  });

  it(
    'reads another namespace URI with DKT: attribute values; ' +
      'currency from the amounts; a 3-digit masked PAN is left out',
    () => {
      const [sale] = decode('other-namespace-sale.xml');
      const lines = saleLines([1, '3583788456231', 1, 2999], [2, '3608419360123', 3, 500]);
      expect(canonical(sale)).toMatchObject(
        canonicalSale('70-12-4567-20260504', '2026-05-04T16:20:30+02:00', 'EUR', lines, ['card', 4499]),
      );
      expect((sale!.tenders as object[])[0]).not.toHaveProperty('pan');
    },
  );

  it(
    'finds the POSLog inside an eai:Exchange envelope (FGL namespace): ' +
      'LineItem/Return with inner TransactionLinks',
    () => {
      const msgs = decode('fgl-envelope-return.xml');
      expect(msgs).toEqual([
        {
          type: 'return.request',
          id: expect.any(String),
          receipt: '1234-5-678-20260110',
          lines: [
            { line: 3, qty: 1, reason: 'DEFECTIVE', disposition: 'damaged' },
            { line: 1, qty: 2, reason: 'WRONG SIZE', disposition: 'restock' },
          ],
        },
      ]);
      expect(canonical(msgs[0])).toMatchObject({ type: 'return.request', receipt: '1234-5-678-20260110' });
    },
  );

  it(
    'reads CDATA values; skips the cancelled transaction and the voided line; ' +
      'uses the masked number beside an encrypted PAN',
    () => {
      const msgs = decode('xstore-cdata-sale.xml', { timeZone: '-05:00' });
      expect(msgs).toHaveLength(1);
      const lines = saleLines([1, 'JKT-RAIN-L', 1, 7900], [3, 'CAP-BLK', 2, 1500]);
      expect(canonical(msgs[0])).toMatchObject(
        canonicalSale('102-3-5511-20260214', '2026-02-14T11:04:45-05:00', 'USD', lines, [
          'card',
          10900,
          '444522******0007',
        ]),
      );
      expect(JSON.stringify(msgs)).not.toContain('CANCELLED-ITEM');
      expect(JSON.stringify(msgs)).not.toContain('SOCKS-3PK');
      expect(decode('xstore-cdata-sale.xml', { receiptKey: 'transaction-id' })[0]!.receipt).toBe(
        '010200030551120260214',
      );
    },
  );

  it('decodes a document declared as ISO-8859-1', () => {
    const text = golden('no-namespace-sale.xml')
      .toString('utf8')
      .replace('encoding="UTF-8"', 'encoding="ISO-8859-1"')
      .replace('MUG-LOGO', 'MUG-KÖLN');
    const [sale] = messages(codec({ defaultCurrency: 'EUR' }).decode(Buffer.from(text, 'latin1')));
    expect((sale!.lines as { sku: string }[])[1]!.sku).toBe('MUG-KÖLN');
  });
});

describe('returns and their links', () => {
  it('roqqio style: a negative-quantity Sale with its TransactionLink returns line 4 of the roqqio sale', () => {
    for (const receiptKey of ['sequence', 'transaction-id'] as const) {
      const [sale] = decode('roqqio-sale.xml', { receiptKey });
      const ret = decode('roqqio-return.xml', { receiptKey });
      expect(ret).toEqual([
        { type: 'return.request', id: expect.any(String), receipt: sale!.receipt, lines: [{ line: 4, qty: 1 }] },
      ]);
      expect((sale!.lines as { line: number; sku: string }[]).find((l) => l.line === 4)?.sku).toBe('4011111000028');
      expect(canonical(ret[0])).toMatchObject({ lines: [{ line: 4, qty: 1, disposition: 'restock' }] });
    }
    expect(decode('roqqio-sale.xml')[0]).toMatchObject({
      receipt: '100-10001-3569-20261015',
      at: '2026-10-15T09:20:40.118Z',
      currency: 'EUR',
    });
    expect(decode('roqqio-sale.xml', { receiptKey: 'transaction-id' })[0]!.receipt).toBe('3569');
    // a loyalty card is no payment card
    expect(JSON.stringify(decode('roqqio-return.xml'))).not.toContain('T220001293');
  });

  it(
    'a TransactionLink ReasonCode="Resume" and a ReceiptReprint link are not returns; ' +
      'the suspended original is skipped',
    () => {
      const msgs = decode('resume-and-reprint.xml', { timeZone: 'Europe/Berlin' });
      expect(msgs.map((m) => m.type)).toEqual(['sale']);
      expect(canonical(msgs[0])).toMatchObject({
        receipt: '9-34-172-20260930',
        at: '2026-09-30T12:09:10+02:00',
        lines: saleLines([1, '00000000090292', 1, 205]),
        tenders: tenderList(['card', 205]),
      });
    },
  );

  it('several transactions give several messages in document order; the return finds the first sale', () => {
    const r = codec().decode(golden('several-transactions.xml'));
    const msgs = messages(r);
    expect(msgs.map((m) => [m.type, m.receipt])).toEqual([
      ['sale', 'S002-1-501-20261127'],
      ['sale', 'S002-1-503-20261127'],
      ['return.request', 'S002-1-501-20261127'],
    ]);
    expect(msgs[2]!.lines).toEqual([{ line: 2, qty: 2 }]);
    expect(msgs[1]!.tenders).toEqual([{ kind: 'giftcard', amount: 1500 }]);
    expect(JSON.stringify(msgs)).not.toContain('VOIDED-SALE');
    const refs = (r as { context: { refs: { id: string; sequence: string }[] } }).context.refs;
    expect(refs.map((x) => [x.id, x.sequence])).toEqual(msgs.map((m, i) => [m.id, ['501', '503', '505'][i]]));
    for (const m of msgs) canonical(m);
    expect(error(codec({ maxTransactions: 4 }).decode(golden('several-transactions.xml')))).toMatchObject({
      code: TbCodes.INVALID,
      message: 'more than 4 transactions in one document',
    });
  });

  it('a return naming only the item gives a sku line; lines of the same item add up', () => {
    const doc = edited(
      'several-transactions.xml',
      '<nrf:LineItemSequenceNumber>2</nrf:LineItemSequenceNumber>',
      '',
    ).toString('utf8');
    const twice = doc.replace(
      new RegExp(
        '(<nrf:LineItem><nrf:SequenceNumber>1</nrf:SequenceNumber>\\s*' +
          '<nrf:Return>[\\s\\S]*?</nrf:Return>\\s*</nrf:LineItem>)',
      ),
      '$1$1',
    );
    const ret = messages(codec().decode(Buffer.from(twice))).at(-1)!;
    expect(ret).toMatchObject({
      type: 'return.request',
      receipt: 'S002-1-501-20261127',
      lines: [{ sku: 'LACES-BLK', qty: 4 }],
    });
    expect(canonical(ret)).toMatchObject({ lines: [{ sku: 'LACES-BLK', qty: 4, disposition: 'restock' }] });
  });

  it('an exchange gives the sale and the return; the Refund tender is not a payment of the sale', () => {
    const doc = edited(
      'several-transactions.xml',
      '<nrf:LineItem><nrf:SequenceNumber>2</nrf:SequenceNumber>\n        <nrf:Tender ' +
        'TenderType="Cash" TypeCode="Refund">',
      '<nrf:LineItem><nrf:SequenceNumber>3</nrf:SequenceNumber><nrf:Sale>' +
        '<nrf:ItemID>LACES-RED</nrf:ItemID>' +
        '<nrf:ActualSalesUnitPrice>4.50</nrf:ActualSalesUnitPrice><nrf:Quantity>2</nrf:Quantity>' +
        '</nrf:Sale></nrf:LineItem>\n' +
        '      <nrf:LineItem><nrf:SequenceNumber>2</nrf:SequenceNumber>\n        <nrf:Tender ' +
        'TenderType="Cash" TypeCode="Refund">',
    );
    const text = doc.toString('utf8').replace('<nrf:Transaction TypeCode="ReturnTransaction">', '<nrf:Transaction>');
    const msgs = messages(codec().decode(Buffer.from(text))).slice(2);
    expect(msgs.map((m) => m.type)).toEqual(['sale', 'return.request']);
    expect(msgs[0]).toMatchObject({
      receipt: 'S002-1-505-20261127',
      lines: [{ line: 3, sku: 'LACES-RED', qty: 2, unitPrice: 450 }],
      tenders: [],
    });
    expect(msgs[1]).toMatchObject({ receipt: 'S002-1-501-20261127', lines: [{ line: 2, qty: 2 }] });
    expect(msgs[0]!.id).not.toBe(msgs[1]!.id);
  });

  it('a return without any link to its sale is refused, naming what is missing', () => {
    const doc = edited(
      'roqqio-return.xml',
      /<TransactionLink>[\s\S]*<\/TransactionLink>/.exec(golden('roqqio-return.xml').toString())![0],
      '',
    );
    const e = error(codec().decode(doc));
    expect(e.code).toBe(TbCodes.INVALID);
    expect(e.message).toBe(
      'Transaction 1: a returned item needs a TransactionLink (or se:ReceiptCodeLink) naming its original sale',
    );
  });

  it('the hub authorization in <ReturnAuthorization> makes a return.complete; its refund PAN ends masked', () => {
    const msgs = decode('authorized-return.xml');
    const refund = { kind: 'card', amount: 1999, pan: '5555555555554444' };
    expect(msgs).toEqual([lineOneReturned('530955b0-396b-8bce-a7c0-18da29f72d96', refund)]);
    expect(canonical(msgs[0])).toMatchObject({ refund: { kind: 'card', amount: 1999, pan: '555555******4444' } });
  });

  it('the hub authorization as TransactionLink ReasonCode="Authorization" makes a return.complete too', () => {
    const msgs = decode('authorization-link-return.xml');
    expect(msgs).toEqual([lineOneReturned('7d1c9a52-0b8e-8f3a-9c4e-2f6b1a0d5e77', { kind: 'cash', amount: 799 })]);
    canonical(msgs[0]);
    // without the original line number the line names the item (the canonical return.complete does not take that yet)
    const bySku = edited('authorization-link-return.xml', '<LineItemSequenceNumber>1</LineItemSequenceNumber>', '');
    expect(messages(codec().decode(bySku))[0]!.lines).toEqual([{ sku: '4011111000011', qty: 1 }]);
    const noRefund = edited(
      'authorization-link-return.xml',
      'TypeCode="Refund"><Amount Currency="EUR">7.990</Amount></Tender>',
      'TypeCode="Refund"/>',
    );
    expect(error(codec().decode(noRefund)).code).toBe(TbCodes.INVALID);
  });
});

describe('amounts, times and card data', () => {
  it('rounds 7-decimal amounts half away from zero, keeps 3 decimals of quantity, and zones zone-less times', () => {
    const [first, second] = decode('precision-zoneless.xml', { timeZone: 'Europe/Stockholm' });
    expect(canonical(first)).toMatchObject({
      at: '2026-03-29T01:30:00.123+01:00',
      lines: saleLines([1, 'CHEESE-KG', 0.422, 300], [2, 'SAMPLE', 1, 0]),
      tenders: tenderList(['coupon', 1001], ['cash', 127]),
    });
    expect(canonical(second)).toMatchObject({
      at: '2026-07-01T00:00:00+02:00',
      lines: saleLines([1, 'WATER-1L', 6, 99]),
      tenders: [],
    });
    expect(decode('precision-zoneless.xml')[0]!.at).toBe('2026-03-29T01:30:00.123Z');
    expect(decode('precision-zoneless.xml', { timeZone: '+05:30' }).map((m) => m.at)).toEqual([
      '2026-03-29T01:30:00.123+05:30',
      '2026-07-01T00:00:00+05:30',
    ]);
    expect(decode('precision-zoneless.xml', { minorUnitDigits: 3 })[0]!.tenders).toEqual([
      { kind: 'coupon', amount: 10005 },
      { kind: 'cash', amount: 1265 },
    ]);
  });

  it(
    'refuses an amount with more than 7 decimals and a date that does not exist, ' +
      'naming the place and not the value',
    () => {
      const e = error(codec().decode(edited('precision-zoneless.xml', '2.9950000', '2.99500001')));
      expect(e).toEqual({
        kind: 'error',
        code: TbCodes.INVALID,
        message:
          'Transaction 1: LineItem 1: Sale/RegularSalesUnitPrice: expected a decimal amount with at most 7 decimals',
      });
      const d = error(
        codec().decode(edited('precision-zoneless.xml', '2026-03-29T01:30:00.1234567', '2026-02-30T01:30:00')),
      );
      expect(d.code).toBe(TbCodes.INVALID);
      expect(d.message).toMatch(/^Transaction 1: EndDateTime: expected an ISO 8601 date-time/);
      expect(d.message).not.toContain('2026-02-30');
    },
  );

  it('passes a full PAN on, and the gateway masks it', () => {
    const [sale] = decode('full-pan-sale.xml');
    expect(sale!.tenders).toEqual([{ kind: 'card', amount: 1999, pan: '4111111111111111' }]);
    const c = canonical(sale);
    expect(c.tenders).toEqual([{ kind: 'card', amount: 1999, pan: '411111******1111' }]);
    expect(JSON.stringify(c)).not.toContain('4111111111111111');
  });

  it('track data where the PAN belongs is refused by the gateway (TB_CARD_DATA) without echoing it', () => {
    const [sale] = decode('track-data-sale.xml');
    const r = toCanonical(structuredClone(sale));
    expect(r).toMatchObject({ ok: false, id: sale!.id, code: TbCodes.CARD_DATA });
    expect(JSON.stringify(r)).not.toContain('4111111111111111');
  });

  it(
    'a PAN that is base64 of a full number is decoded (then masked by the gateway); ' + 'an encrypted one is left out',
    () => {
      const b64 = edited(
        'full-pan-sale.xml',
        '4111 1111 1111 1111',
        Buffer.from('4111111111111111').toString('base64'),
      );
      expect(canonical(messages(codec().decode(b64))[0]).tenders).toEqual([
        { kind: 'card', amount: 1999, pan: '411111******1111' },
      ]);
      const hex = edited(
        'full-pan-sale.xml',
        '4111 1111 1111 1111',
        '9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08',
      );
      expect(messages(codec().decode(hex))[0]!.tenders).toEqual([{ kind: 'card', amount: 1999 }]);
    },
  );

  it('error messages never echo the document, card numbers included', () => {
    const doc = edited('full-pan-sale.xml', '<Amount>19.99</Amount>', '<Amount>19.99 EUR 4111111111111111</Amount>');
    const e = error(codec().decode(doc));
    expect(e.message).toBe(
      'Transaction 1: LineItem 2: Tender/Amount: expected a decimal amount with at most 7 decimals',
    );
    const broken = error(codec().decode(Buffer.from('<POSLog><Transaction>4111111111111111</POSLog>')));
    expect(broken.code).toBe(TbCodes.MALFORMED);
    expect(broken.message).not.toContain('4111');
  });
});

describe('what is not a sale or a return', () => {
  const c = codec({ defaultCurrency: 'EUR' });
  it.each([
    ['not XML', 'hello', TbCodes.MALFORMED],
    ['an unclosed element', '<POSLog><Transaction></POSLog>', TbCodes.MALFORMED],
    ['two root elements', '<POSLog/><POSLog/>', TbCodes.MALFORMED],
    ['a DOCTYPE', '<!DOCTYPE POSLog [<!ENTITY x "y">]><POSLog>&x;</POSLog>', TbCodes.MALFORMED],
    ['another root element', '<Invoice><Transaction/></Invoice>', TbCodes.INVALID],
    [
      'only a sign-on',
      '<POSLog><Transaction><ControlTransaction><OperatorSignOn/></ControlTransaction></Transaction></POSLog>',
      TbCodes.INVALID,
    ],
    [
      'a sale without lines',
      '<POSLog><Transaction><RetailTransaction><LineItem><Tender TenderType="Cash">' +
        '<Amount>1</Amount></Tender></LineItem></RetailTransaction></Transaction></POSLog>',
      TbCodes.INVALID,
    ],
  ])('%s → %s', (_what, doc, code) => {
    expect(error(c.decode(Buffer.from(doc)))).toMatchObject({ kind: 'error', code });
  });

  it('refuses bytes that are not UTF-8', () => {
    expect(error(c.decode(Buffer.from([0x3c, 0x61, 0x3e, 0xff, 0xfe, 0x3c, 0x2f, 0x61, 0x3e])))).toMatchObject({
      code: TbCodes.MALFORMED,
    });
  });

  it('a retransmitted document is the same ids, however it is laid out', () => {
    const once = decode('several-transactions.xml').map((m) => m.id);
    const compact = golden('several-transactions.xml').toString('utf8').replace(/>\s+</g, '><');
    expect(messages(codec().decode(Buffer.from(compact))).map((m) => m.id)).toEqual(once);
  });
});
