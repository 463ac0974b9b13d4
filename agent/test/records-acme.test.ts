import { describe, expect, it } from 'vitest';
import { TbCodes, type RegisterReply } from '@tillbridge/shared';
import { DelimitedCodec, loadProfile } from '../src/gateway/codecs/records/index.js';
import { toCanonical } from '../src/gateway/canonical.js';
import type { DecodeResult } from '../src/gateway/types.js';
import { ACME_SALE } from './support/acme-frames.js';
import { decisionReply, foundReceipt } from './support/register-messages.js';

const profile = loadProfile(new URL('../../installers/profiles/acme-ecr-400-delimited.json', import.meta.url).pathname);
const codec = new DelimitedCodec(profile);
const AUTH = '530955b0-396b-8bce-a7c0-18da29f72d96';
const bytes = (s: string) => Buffer.from(s, 'latin1');

/** Decodes one frame that must hold exactly one message, and checks the canonical step accepts it. */
function one(frame: string): { raw: unknown; canonical: unknown } {
  const r = codec.decode(bytes(frame));
  if (r.kind !== 'messages') throw new Error(`expected messages, got ${JSON.stringify(r)}`);
  expect(r.messages).toHaveLength(1);
  const c = toCanonical(structuredClone(r.messages[0]));
  expect(c.ok).toBe(true);
  return { raw: r.messages[0], canonical: c.ok ? c.message : undefined };
}

describe('acme-ecr-400 (delimited): golden request frames', () => {
  it('a sale with three lines (one weighed) and two tenders; the full PAN is masked by the canonical step', () => {
    const { raw, canonical } = one(ACME_SALE);
    const lines = [
      { line: 1, sku: 'TEE-BLUE-M', qty: 2, unitPrice: 1999 },
      { line: 2, sku: 'MUG-LOGO', qty: 1, unitPrice: 899 },
      { line: 3, sku: 'BANANAS', qty: 0.42, unitPrice: 349 },
    ];
    const base = {
      type: 'sale',
      id: '000123',
      receipt: '0001-000123',
      at: '2026-11-27T10:15:00+01:00',
      currency: 'EUR',
      lines,
    };
    expect(raw).toEqual({
      ...base,
      tenders: [
        { kind: 'cash', amount: 1000 },
        { kind: 'card', amount: 4044, pan: '4111111111111111' },
      ],
    });
    expect(canonical).toEqual({
      ...base,
      tenders: [
        { kind: 'cash', amount: 1000 },
        { kind: 'card', amount: 4044, pan: '411111******1111' },
      ],
    });
  });

  it('a summer sale gets the summer offset of the profile time zone', () => {
    const { raw } = one('S|000200|0001-000200|20260704|0930|EUR|1|MUG-LOGO|1000|899|0');
    expect(raw).toMatchObject({ at: '2026-07-04T09:30:00+02:00', tenders: [] });
  });

  it('a return request with value-mapped reasons and dispositions', () => {
    expect(one('R|000124|0001-000123|2|1|1000|01|R|3|0250|02|D').canonical).toEqual({
      type: 'return.request',
      id: '000124',
      receipt: '0001-000123',
      lines: [
        { line: 1, qty: 1, reason: 'wrong size', disposition: 'restock' },
        { line: 3, qty: 0.25, reason: 'defective', disposition: 'damaged' },
      ],
    });
    // a blank reason is no reason; a blank disposition takes the canonical default
    expect(one('R|000125|0001-000123|1|2|1000||').canonical).toEqual({
      type: 'return.request',
      id: '000125',
      receipt: '0001-000123',
      lines: [{ line: 2, qty: 1, disposition: 'restock' }],
    });
  });

  it('a return completion refunded to a card', () => {
    const { raw, canonical } = one(`C|000126|${AUTH}|02|1999|4111111111111111|1|1|1000`);
    const base = { type: 'return.complete', id: '000126', authorization: AUTH, lines: [{ line: 1, qty: 1 }] };
    expect(raw).toEqual({ ...base, refund: { kind: 'card', amount: 1999, pan: '4111111111111111' } });
    expect(canonical).toEqual({ ...base, refund: { kind: 'card', amount: 1999, pan: '411111******1111' } });
  });

  it('a cancel, a status report and a receipt lookup', () => {
    expect(one(`X|000127|${AUTH}`).canonical).toEqual({ type: 'return.cancel', id: '000127', authorization: AUTH });
    expect(one('Q|000128|2|PAPER LOW').canonical).toEqual({
      type: 'status',
      id: '000128',
      state: 'paper_low',
      detail: 'PAPER LOW',
    });
    expect(one('Q|000129|0|').canonical).toEqual({ type: 'status', id: '000129', state: 'ready' });
    expect(one('P|000130|0001-000123').canonical).toEqual({
      type: 'receipt.lookup',
      id: '000130',
      receipt: '0001-000123',
    });
  });

  it('reads Latin-1 text', () => {
    expect(codec.decode(Buffer.from('P|000131|K\xc4SE-0001', 'latin1'))).toMatchObject({
      messages: [{ receipt: 'KÄSE-0001' }],
    });
  });
});

describe('acme-ecr-400 (delimited): golden reply bytes', () => {
  const enc = (r: RegisterReply) => codec.encode([r]);

  it('ack', () => {
    expect(enc({ type: 'ack', id: '000123' })).toEqual(bytes('A|000123'));
  });

  it('return.decision, per line, with mapped decision, mode and line codes', () => {
    const approved = decisionReply('000124', AUTH, 'approved', 'online', [
      { line: 1, approvedQty: 1, code: 'ok' },
      { line: 3, approvedQty: 0, code: 'exceeds_returnable' },
    ]);
    expect(enc(approved)).toEqual(bytes(`D|000124|${AUTH}|A|N||2|1|001000|00|3|000000|04`));
    const denied: RegisterReply = {
      type: 'return.decision',
      id: '000125',
      authorization: 'a-2',
      decision: 'denied',
      mode: 'offline',
      reason: 'not sold here|offline, and a reason longer than forty characters',
      lines: [{ line: 2, approvedQty: 0, code: 'some_future_code' }],
    };
    // the separator inside the reason is blanked, the reason cut to 40, an unknown code mapped to its default
    expect(enc(denied)).toEqual(bytes('D|000125|a-2|D|F|not sold here offline, and a reason long|1|2|000000|99'));
  });

  it('error, with and without the id, the message cut to 40 characters', () => {
    expect(
      enc({
        type: 'error',
        id: '000123',
        code: TbCodes.INVALID,
        message: 'lines[0].qty: expected a positive quantity',
      }),
    ).toEqual(bytes('E|000123|11|lines[0].qty: expected a positive quanti'));
    expect(
      enc({ type: 'error', code: TbCodes.FRAME_TOO_LARGE, message: 'frame longer than 4096 bytes discarded' }),
    ).toEqual(bytes('E||13|frame longer than 4096 bytes discarded'));
    expect(enc({ type: 'error', code: 'TB_SOMETHING_NEW', message: 'x' })).toEqual(bytes('E||99|x'));
  });

  it('receipt, in Latin-1, found and not found', () => {
    const out = enc(foundReceipt('000130', '0001-000123', 'KÄSE'));
    expect(out).toEqual(
      Buffer.from('P|000130|0001-000123|Y|2|1|TEE-BLUE-M|2000|1999|1000|3|K\xc4SE|420|349|420', 'latin1'),
    );
    expect(out.includes(0xc4)).toBe(true);
    expect(enc({ type: 'receipt', id: '000131', receipt: 'X-1', found: false, source: 'local', lines: [] })).toEqual(
      bytes('P|000131|X-1|N|0'),
    );
  });

  it('a reply that does not fit its layout becomes an error record instead of wrong digits', () => {
    const tooBig = decisionReply('000124', AUTH, 'approved', 'online', [{ line: 1, approvedQty: 1000, code: 'ok' }]);
    expect(enc(tooBig)).toEqual(bytes('E|000124|90|the return.decision reply does not fit t'));
  });

  it('control characters and characters Latin-1 cannot hold never reach the wire', () => {
    const out = enc({ type: 'error', id: '1\x032', code: TbCodes.INVALID, message: 'a\x02b\u20acc' });
    expect(out).toEqual(bytes('E|1 2|11|a b?c'));
  });
});

describe('acme-ecr-400 (delimited): malformed records', () => {
  const SALE = ACME_SALE;
  const refuse = (frame: string, expected: DecodeResult, raw: string) => {
    const r = codec.decode(bytes(frame));
    expect(r).toEqual(expected);
    expect(JSON.stringify(r)).not.toContain(raw);
    return r;
  };

  it('an unknown type code', () => {
    refuse(
      'ZZTOP|000123|x',
      {
        kind: 'error',
        code: TbCodes.MALFORMED,
        message: 'record 1: a type code this profile does not know (messages: S, R, C, X, Q, P)',
      },
      'ZZTOP',
    );
  });

  it('a wrong field count', () => {
    refuse(
      `X|000127|${AUTH}|SECRET-EXTRA`,
      { kind: 'error', id: '000127', code: TbCodes.MALFORMED, message: 'record 1 (X): 4 fields, expected 3' },
      'SECRET-EXTRA',
    );
    refuse('X', { kind: 'error', code: TbCodes.MALFORMED, message: 'record 1 (X): 1 field, expected 3' }, '|');
    // the last tender is one field short
    refuse(
      SALE.replace('|4111111111111111', ''),
      {
        kind: 'error',
        code: TbCodes.MALFORMED,
        id: '000123',
        message: 'record 1 (S): 22 fields, too few for 2 tenders',
      },
      '4044',
    );
    // four lines announced: the tenders' fields are taken as the fourth line, and no tender count is left
    refuse(
      SALE.replace('|3|TEE', '|4|TEE'),
      {
        kind: 'error',
        id: '000123',
        code: TbCodes.INVALID,
        message: 'record 1 (S), tenders count at field 20: expected a number of items',
      },
      '4111111111111111',
    );
    refuse(
      `${SALE}|SECRET`,
      { kind: 'error', id: '000123', code: TbCodes.MALFORMED, message: 'record 1 (S): 24 fields, expected 23' },
      'SECRET',
    );
  });

  it.each([
    {
      case: 'a non-numeric unit price',
      frame: SALE.replace('|899|', '|8,99|'),
      message: 'record 1 (S), lines[1].unitPrice (field 13): expected digits with 2 implied decimals',
      raw: '8,99',
    },
    {
      case: 'a non-numeric tender amount',
      frame: SALE.replace('|4044|', '|40A4|'),
      message: 'record 1 (S), tenders[1].amount (field 22): expected digits with 2 implied decimals',
      raw: '40A4',
    },
    {
      case: 'a date with no such month',
      frame: SALE.replace('20261127', '20261327'),
      message: 'record 1 (S), at (fields 4+5): expected a date as YYYYMMDDhhmm',
      raw: '20261327',
    },
    {
      case: 'a time with no such hour',
      frame: SALE.replace('|1015|', '|2460|'),
      message: 'record 1 (S), at (fields 4+5): expected a date as YYYYMMDDhhmm',
      raw: '2460',
    },
    {
      case: 'a code missing from a value map',
      frame: SALE.replace('|02|4044', '|07|4044'),
      message: 'record 1 (S), tenders[1].kind (field 21): expected one of "01", "02", "03"',
      raw: '07',
    },
    {
      case: 'a count that is no number',
      frame: SALE.replace('|3|TEE', '|x3|TEE'),
      message: 'record 1 (S), lines count at field 7: expected a number of items',
      raw: 'x3',
    },
    {
      case: 'a count that is too large',
      frame: 'S|000123|0001-000123|20261127|1015|EUR|201',
      message: 'record 1 (S), lines count: expected at most 200',
      raw: '201',
    },
  ])('$case: refused naming the record and the field, with the id when it was read', ({ frame, message, raw }) => {
    refuse(frame, { kind: 'error', id: '000123', code: TbCodes.INVALID, message }, raw);
  });

  it('a blank id, where the profile maps one, instead of a message with no id', () => {
    // found by the property test (records-property.test.ts): field 2 blank, the sequence number moved into field 3
    for (const frame of [SALE.replace('S|000123|', 'S||'), SALE.replace('S|000123|', 'S|   |'), 'Q||2|0001-000123']) {
      const code = frame.charAt(0);
      refuse(
        frame,
        {
          kind: 'error',
          code: TbCodes.INVALID,
          message: `record 1 (${code}), id (field 2): expected the message id`,
        },
        '0001-000123',
      );
    }
  });

  it('an empty frame and a missing type code', () => {
    refuse('', { kind: 'error', code: TbCodes.MALFORMED, message: 'the frame holds no record' }, 'ZZ');
    refuse(
      '|000123',
      { kind: 'error', code: TbCodes.MALFORMED, message: 'record 1: no type code at field 1' },
      '000123',
    );
  });

  it('values the canonical step refuses are caught there, with the id', () => {
    const r = codec.decode(bytes(SALE.replace('|2000|1999|', '|0000|1999|')));
    expect(r.kind).toBe('messages');
    const c = toCanonical(r.kind === 'messages' ? r.messages[0] : undefined);
    expect(c).toMatchObject({ ok: false, id: '000123', code: TbCodes.INVALID });
    expect(c.ok ? '' : c.message).toContain('lines[0].qty');
  });
});
