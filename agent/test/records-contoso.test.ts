import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { derivedId, TbCodes } from '@tillbridge/shared';
import { FixedCodec, loadProfile } from '../src/gateway/codecs/records/index.js';
import { toCanonical } from '../src/gateway/canonical.js';
import type { DecodeResult } from '../src/gateway/types.js';
import { decisionReply, foundReceipt } from './support/register-messages.js';

const profile = loadProfile(new URL('../../installers/profiles/contoso-fixed-80.json', import.meta.url).pathname);
const codec = new FixedCodec(profile);
const AUTH = '530955b0-396b-8bce-a7c0-18da29f72d96';

/** One 80-byte record: the parts written one after the other, then spaces to column 80. */
const rec = (...parts: string[]) => parts.join('').padEnd(80, ' ');
const frame = (...records: string[]) => Buffer.from(records.join(''), 'latin1');
/** Till 0007, transaction 0123, 27 Nov 2026 10:15:00 (columns 3-24 of every header record). */
const HEAD = '0007' + '0123' + '20261127101500';
const frameId = (b: Buffer, i = 0) =>
  derivedId('tillbridge.record-frame', createHash('sha256').update(b).digest('hex'), String(i));

const SALE = frame(
  rec('SH', HEAD, 'S07-0123'.padEnd(20), 'GBP'),
  rec('SL', '001', 'TEE-BLUE-M'.padEnd(20), '00002000', '000001999', 'T-SHIRT BLUE M'),
  rec('SL', '002', 'MUG-LOGO'.padEnd(20), '00001000', '000000899', 'MUG WITH LOGO'),
  rec('SL', '003', 'BANANAS'.padEnd(20), '00000420', '000000349', 'BANANAS LOOSE PER KG'),
  rec('ST', '01', '000001000'),
  rec('ST', '02', '000004044', '4111111111111111'),
);

function decoded(b: Buffer): { messages: unknown[]; context: unknown } {
  const r = codec.decode(b);
  if (r.kind !== 'messages') throw new Error(`expected messages, got ${JSON.stringify(r)}`);
  return { messages: r.messages, context: r.context };
}

function canonical(m: unknown): unknown {
  const c = toCanonical(structuredClone(m));
  expect(c.ok).toBe(true);
  return c.ok ? c.message : undefined;
}

describe('contoso-fixed-80 (fixed): golden request frames', () => {
  it('a sale as a header, three line records (one weighed) and two tenders; the id is derived from the frame', () => {
    const { messages, context } = decoded(SALE);
    const id = frameId(SALE);
    expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    const lines = [
      { line: 1, sku: 'TEE-BLUE-M', qty: 2, unitPrice: 1999 },
      { line: 2, sku: 'MUG-LOGO', qty: 1, unitPrice: 899 },
      { line: 3, sku: 'BANANAS', qty: 0.42, unitPrice: 349 },
    ];
    const base = { type: 'sale', id, receipt: 'S07-0123', at: '2026-11-27T10:15:00+00:00', currency: 'GBP', lines };
    expect(messages).toEqual([
      {
        ...base,
        tenders: [
          { kind: 'cash', amount: 1000 },
          { kind: 'card', amount: 4044, pan: '4111111111111111' },
        ],
      },
    ]);
    expect(context).toEqual({ records: [{ till: '0007', tran: '0123' }] });
    expect(canonical(messages[0])).toEqual({
      ...base,
      tenders: [
        { kind: 'cash', amount: 1000 },
        { kind: 'card', amount: 4044, pan: '411111******1111' },
      ],
    });
  });

  it('a retransmitted frame is the same id; any other frame is another', () => {
    const again = Buffer.from(SALE);
    expect(decoded(again).messages[0]).toMatchObject({ id: frameId(SALE) });
    const next = Buffer.from(SALE);
    next.write('0124', 6, 'latin1');
    expect(decoded(next).messages[0]).toMatchObject({ id: frameId(next) });
    expect(frameId(next)).not.toBe(frameId(SALE));
  });

  it('a return request', () => {
    const b = frame(
      rec('RH', HEAD, 'S07-0123'),
      rec('RL', '001', '00001000', 'R', '01'),
      rec('RL', '003', '00000250', 'D', '  '),
    );
    expect(canonical(decoded(b).messages[0])).toEqual({
      type: 'return.request',
      id: frameId(b),
      receipt: 'S07-0123',
      lines: [
        { line: 1, qty: 1, reason: 'wrong size', disposition: 'restock' },
        { line: 3, qty: 0.25, disposition: 'damaged' },
      ],
    });
    // a register that does not know the sale's line number names the item: the hub resolves it
    const bySku = frame(rec('RH', HEAD, 'S07-0123'), rec('RL', '   ', '00001000', 'R', '  ', 'TEE-BLUE-M'));
    expect(canonical(decoded(bySku).messages[0])).toEqual({
      type: 'return.request',
      id: frameId(bySku),
      receipt: 'S07-0123',
      lines: [{ sku: 'TEE-BLUE-M', qty: 1, disposition: 'restock' }],
    });
  });

  it('a return completion, a cancel, a status report and a receipt lookup', () => {
    const c = frame(rec('CH', HEAD, AUTH, '02', '000001999'), rec('CL', '001', '00001000'));
    expect(canonical(decoded(c).messages[0])).toEqual({
      type: 'return.complete',
      id: frameId(c),
      authorization: AUTH,
      lines: [{ line: 1, qty: 1 }],
      refund: { kind: 'card', amount: 1999 },
    });
    const x = frame(rec('XH', HEAD, AUTH));
    expect(canonical(decoded(x).messages[0])).toEqual({ type: 'return.cancel', id: frameId(x), authorization: AUTH });
    const q = frame(rec('QH', HEAD, '03', 'PAPER OUT AT PRINTER 1'));
    expect(canonical(decoded(q).messages[0])).toEqual({
      type: 'status',
      id: frameId(q),
      state: 'paper_out',
      detail: 'PAPER OUT AT PRINTER 1',
    });
    const p = frame(rec('PH', HEAD, 'S07-0123'));
    expect(canonical(decoded(p).messages[0])).toEqual({ type: 'receipt.lookup', id: frameId(p), receipt: 'S07-0123' });
  });

  it('several messages in one frame, each with its own context and id', () => {
    const b = frame(rec('PH', HEAD, 'S07-0123'), rec('QH', '0007', '0124', '20261127101501', '00'));
    const { messages, context } = decoded(b);
    expect(messages).toEqual([
      { type: 'receipt.lookup', id: frameId(b, 0), receipt: 'S07-0123' },
      { type: 'status', id: frameId(b, 1), state: 'ready' },
    ]);
    expect(context).toEqual({
      records: [
        { till: '0007', tran: '0123' },
        { till: '0007', tran: '0124' },
      ],
    });
  });
});

describe('contoso-fixed-80 (fixed): golden reply bytes', () => {
  const ctx = { records: [{ till: '0007', tran: '0123' }] };
  const text = (b: Buffer) => b.toString('latin1');

  it('ack echoes the till and transaction number of the request', () => {
    expect(text(codec.encode([{ type: 'ack', id: 'x' }], ctx))).toBe(rec('AK', '0007', '0123', '00'));
  });

  it('return.decision: a header record and one record per line', () => {
    const lines = [
      { line: 1, approvedQty: 1, code: 'ok' },
      { line: 3, sku: 'BANANAS', approvedQty: 0, code: 'exceeds_returnable' },
    ];
    const why = 'approved offline by local policy (hub unreachable)';
    const r = decisionReply('x', AUTH, 'approved', 'offline', lines, why);
    const out = codec.encode([r], ctx);
    expect(out.length).toBe(240);
    expect(text(out)).toBe(
      rec('DH', '0007', '0123', 'A', 'F', AUTH, '002', 'approved offline by local pol') +
        rec('DL', '001', '00001000', '00') +
        rec('DL', '003', '00000000', '04', 'BANANAS'),
    );
  });

  it('error, without context (a frame that could not be decoded) and with', () => {
    expect(
      text(codec.encode([{ type: 'error', code: TbCodes.MALFORMED, message: 'the frame is not valid ASCII' }])),
    ).toBe(rec('ER', '0000', '0000', '10', 'the frame is not valid ASCII'));
    const long = 'lines[0].qty: expected a positive quantity; lines[1].unitPrice: expected zero or more';
    expect(text(codec.encode([{ type: 'error', id: 'x', code: TbCodes.INVALID, message: long }], ctx))).toBe(
      rec('ER', '0007', '0123', '11', long.slice(0, 68)),
    );
  });

  it('receipt: a header record and one record per line', () => {
    const r = foundReceipt('x', 'S07-0123', 'BANANAS');
    expect(text(codec.encode([r], ctx))).toBe(
      rec('RP', '0007', '0123', 'Y', 'S07-0123'.padEnd(20), '002') +
        rec('RI', '001', 'TEE-BLUE-M'.padEnd(20), '00002000', '000001999', '00001000') +
        rec('RI', '003', 'BANANAS'.padEnd(20), '00000420', '000000349', '00000420'),
    );
  });

  it('one frame answers every message of a request frame, in order, each with its context', () => {
    const two = {
      records: [
        { till: '0007', tran: '0123' },
        { till: '0007', tran: '0124' },
      ],
    };
    const out = codec.encode(
      [
        { type: 'receipt', id: 'a', receipt: 'S07-0123', found: false, source: 'local', lines: [] },
        { type: 'ack', id: 'b' },
      ],
      two,
    );
    expect(text(out)).toBe(
      rec('RP', '0007', '0123', 'N', 'S07-0123'.padEnd(20), '000') + rec('AK', '0007', '0124', '00'),
    );
  });

  it('a non-ASCII character in a reply becomes "?" and the record stays 80 bytes', () => {
    const out = codec.encode([{ type: 'error', code: TbCodes.INVALID, message: 'Größe\r\n' }]);
    expect(text(out)).toBe(rec('ER', '0000', '0000', '11', 'Gr??e'));
  });
});

describe('contoso-fixed-80 (fixed): malformed records', () => {
  const refuse = (b: Buffer, expected: DecodeResult, raw: string) => {
    const r = codec.decode(b);
    expect(r).toEqual(expected);
    expect(JSON.stringify(r)).not.toContain(raw);
  };
  const saleWith = (i: number, record: string) => {
    const recs = [0, 1, 2, 3, 4, 5].map((k) => SALE.subarray(k * 80, k * 80 + 80).toString('latin1'));
    recs[i] = record;
    return frame(...recs);
  };

  it('a record too short for its columns, naming the record and the field', () => {
    const b = frame(rec('SH', HEAD, 'S07-0123'.padEnd(20), 'GBP'), 'SL001TEE-BLUE-M          00002000000');
    refuse(
      b,
      {
        kind: 'error',
        id: frameId(b),
        code: TbCodes.MALFORMED,
        message: 'record 2 (SL) is 36 bytes, too short for lines[].unitPrice (columns 34-42)',
      },
      '00002000000',
    );
    const h = frame('SH0007012320261127');
    refuse(
      h,
      {
        kind: 'error',
        id: frameId(h),
        code: TbCodes.MALFORMED,
        message: 'record 1 (SH) is 18 bytes, too short for at (columns 11-24)',
      },
      '2026',
    );
  });

  it('an unknown type code, and a child record with no message record before it', () => {
    refuse(
      frame(rec('ZQ', HEAD)),
      {
        kind: 'error',
        code: TbCodes.MALFORMED,
        message: 'record 1: a type code this profile does not know (messages: SH, RH, CH, XH, QH, PH)',
      },
      'ZQ',
    );
    refuse(
      frame(rec('SL', '001')),
      {
        kind: 'error',
        code: TbCodes.MALFORMED,
        message: 'record 1: a child record with no message record of its kind before it',
      },
      '001',
    );
    const b = frame(rec('RH', HEAD, 'S07-0123'), rec('ST', '01', '000001000'));
    refuse(
      b,
      {
        kind: 'error',
        id: frameId(b),
        code: TbCodes.MALFORMED,
        message: 'record 2: a child record with no message record of its kind before it',
      },
      '000001000',
    );
  });

  it('a non-numeric amount or quantity', () => {
    const b = saleWith(5, rec('ST', '02', '0000404X4', '4111111111111111'));
    refuse(
      b,
      {
        kind: 'error',
        id: frameId(b),
        code: TbCodes.INVALID,
        message: 'record 6 (ST), tenders[1].amount (columns 5-13): expected digits with 2 implied decimals',
      },
      '404X',
    );
    const q = saleWith(3, rec('SL', '003', 'BANANAS'.padEnd(20), '0000.420', '000000349'));
    refuse(
      q,
      {
        kind: 'error',
        id: frameId(q),
        code: TbCodes.INVALID,
        message: 'record 4 (SL), lines[2].qty (columns 26-33): expected digits with 3 implied decimals',
      },
      '0000.420',
    );
  });

  it('a bad date', () => {
    const b = saleWith(0, rec('SH', '0007', '0123', '20260230101500', 'S07-0123'.padEnd(20), 'GBP'));
    refuse(
      b,
      {
        kind: 'error',
        id: frameId(b),
        code: TbCodes.INVALID,
        message: 'record 1 (SH), at (columns 11-24): expected a date as YYYYMMDDhhmmss',
      },
      '20260230',
    );
  });

  it('bytes that are not ASCII', () => {
    refuse(
      frame(rec('PH', HEAD, 'S07-\xe90123')),
      { kind: 'error', code: TbCodes.MALFORMED, message: 'the frame is not valid ASCII' },
      '\xe9',
    );
  });
});
