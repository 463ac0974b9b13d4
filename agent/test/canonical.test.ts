import { describe, expect, it } from 'vitest';
import { JsonlCodec } from '../src/gateway/codecs/jsonl.js';
import { toCanonical } from '../src/gateway/canonical.js';
import { cashSale } from './support/register-messages.js';

/** A one-item sale paid by card, with the card's full number. */
const sale = {
  ...cashSale('s1', 'R-1', '2026-11-27T10:00:00Z', 1, 100),
  tenders: [{ kind: 'card', amount: 100, pan: '4111111111111111' }],
};

/** The reason of a one-line return request as the canonical step leaves it (false when it refuses the request). */
function reasonOf(reason: string): string | false | undefined {
  const r = toCanonical({ type: 'return.request', id: 'r', receipt: 'R-1', lines: [{ line: 1, qty: 1, reason }] });
  return r.ok && r.message.type === 'return.request' && r.message.lines[0]!.reason;
}

const codec = new JsonlCodec();

describe('jsonl codec', () => {
  it('decodes one JSON object per frame and refuses anything else', () => {
    expect(codec.decode(Buffer.from('{"a":1}'))).toEqual({ kind: 'messages', messages: [{ a: 1 }] });
    expect(codec.decode(Buffer.from('[1]'))).toMatchObject({ kind: 'error', code: 'TB_MALFORMED' });
    expect(codec.decode(Buffer.from('{oops'))).toMatchObject({ kind: 'error', code: 'TB_MALFORMED' });
    expect(codec.decode(Buffer.from([0xff, 0xfe, 0x7b]))).toMatchObject({ kind: 'error', code: 'TB_MALFORMED' });
  });
});

describe('toCanonical', () => {
  it('masks a full PAN before anything else sees the message', () => {
    const r = toCanonical(structuredClone(sale));
    expect(r.ok).toBe(true);
    if (r.ok && r.message.type === 'sale') expect(r.message.tenders[0]!.pan).toBe('411111******1111');
  });

  it('refuses track data and CVV wherever they appear, without echoing them', () => {
    const withCvv = structuredClone(sale) as Record<string, unknown>;
    (withCvv.tenders as Record<string, unknown>[])[0]!.cvv = '123';
    const r = toCanonical(withCvv);
    expect(r).toMatchObject({ ok: false, id: 's1', code: 'TB_CARD_DATA' });
    const track = { ...structuredClone(sale), receipt: ';4111111111111111=25121010000000000?' };
    const r2 = toCanonical(track);
    expect(r2).toMatchObject({ ok: false, code: 'TB_CARD_DATA' });
    expect(JSON.stringify(r2)).not.toContain('4111111111111111');
  });

  it('names the key and what was expected', () => {
    const r = toCanonical({ ...sale, lines: [{ line: 1, sku: 'A', qty: -1, unitPrice: 1.5 }] });
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.code).toBe('TB_INVALID');
      expect(r.message).toContain('lines[0].qty');
      expect(r.message).toContain('lines[0].unitPrice');
    }
    expect(toCanonical({ type: 'refund', id: 'x' })).toMatchObject({ ok: false, code: 'TB_UNKNOWN_TYPE', id: 'x' });
    expect(toCanonical({ ...sale, extra: 1 })).toMatchObject({ ok: false, code: 'TB_INVALID' });
    expect(toCanonical({ ...sale, lines: [sale.lines[0], sale.lines[0]] })).toMatchObject({
      ok: false,
      code: 'TB_INVALID',
    });
  });

  it(
    'refuses an identifier with a lone surrogate (JSON carries one, a database does not keep it), naming the key; ' +
      'takes a character outside the BMP',
    () => {
      const frame = Buffer.from(JSON.stringify({ ...sale, receipt: 'R-1' }).replace('"R-1"', '"R-\\ud800"'));
      const decoded = codec.decode(frame);
      if (decoded.kind !== 'messages') throw new Error('the frame is JSON');
      const r = toCanonical(decoded.messages[0]);
      expect(r).toMatchObject({ ok: false, code: 'TB_INVALID', id: 's1' });
      expect(r.ok ? '' : r.message).toMatch(/receipt: expected well-formed Unicode text/);
      const r2 = toCanonical({ ...sale, lines: [{ ...sale.lines[0], sku: 'A-\udc00' }] });
      expect(r2.ok ? '' : r2.message).toMatch(/lines\[0\]\.sku: expected well-formed/);
      expect(toCanonical({ ...structuredClone(sale), receipt: 'R-\u{1f9fe}' })).toMatchObject({ ok: true });
    },
  );

  it('masks a card number typed into free text, and refuses one in an identifier', () => {
    expect(reasonOf('customer card 4111 1111 1111 1111 declined')).toBe('customer card 411111******1111 declined');
    expect(toCanonical({ ...sale, receipt: '4111111111111111' })).toMatchObject({
      ok: false,
      code: 'TB_CARD_DATA',
      message: expect.stringMatching(/^receipt: /),
    });
    expect(toCanonical({ ...sale, lines: [{ line: 1, sku: '5555555555554444', qty: 1, unitPrice: 1 }] })).toMatchObject(
      { ok: false, code: 'TB_CARD_DATA', message: expect.stringMatching(/^lines\[0\]\.sku/) },
    );
    // a barcode is a barcode, even one whose digits also pass the card number check (Luhn, an issuer's range)
    expect(toCanonical({ ...sale, lines: [{ line: 1, sku: '4006381333931', qty: 1, unitPrice: 1 }] }).ok).toBe(true);
    expect(toCanonical({ ...sale, lines: [{ line: 1, sku: '5901234123457', qty: 1, unitPrice: 1 }] }).ok).toBe(true);
  });

  it(
    'masks a card number typed right after another number, ' +
      'and refuses one standing in an identifier next to another number',
    () => {
      expect(reasonOf('box 2 4242424242424242 signed')).toBe('box 2 424242******4242 signed');
      const st = toCanonical({ type: 'status', id: 'st', state: 'error', detail: 'slot 7-4111-1111-1111-1111 jammed' });
      expect(st.ok && st.message.type === 'status' && st.message.detail).toBe('slot 7-411111******1111 jammed');
      const id = toCanonical({ ...sale, receipt: '2 4242424242424242' });
      expect(id).toMatchObject({ ok: false, code: 'TB_CARD_DATA', message: expect.stringMatching(/^receipt: /) });
      expect(JSON.stringify(id)).not.toContain('4242424242424242');
      // a long numeric receipt number is a receipt number
      expect(toCanonical({ ...sale, receipt: '000120261127004242424242424242' }).ok).toBe(true);
      // so is a 16-digit one of a date and a sequence, though its digits pass Luhn: no card's issuer range starts 20
      expect(toCanonical({ ...sale, receipt: '2026120200000018' }).ok).toBe(true);
    },
  );

  it('takes back the ids it gives out: a return completed with an authorization beginning with 16 digits', () => {
    // derivedId gave this authorization; its first 16 digits pass as a card number (about 40 ids in a million do)
    const authorization = '46317902-0877-8295-91a6-f89642b8aaac';
    const complete = { type: 'return.complete', id: 'c-1', lines: [{ line: 1, qty: 1 }] };
    const refund = { kind: 'cash', amount: 500 };
    expect(toCanonical({ ...complete, authorization, refund })).toMatchObject({
      ok: true,
      message: { type: 'return.complete', authorization },
    });
    expect(toCanonical({ type: 'return.cancel', id: 'x-1', authorization }).ok).toBe(true);
    // the same digits written as a card number are still refused there
    expect(toCanonical({ ...complete, authorization: '4631-7902-0877-8295', refund })).toMatchObject({
      ok: false,
      code: 'TB_CARD_DATA',
      message: expect.stringMatching(/^authorization: /),
    });
  });

  it('never echoes a card number in an error, even one sent as a key name', () => {
    const r = toCanonical({ ...sale, '4111111111111111': 1 });
    expect(r).toMatchObject({
      ok: false,
      code: 'TB_INVALID',
      message: expect.stringContaining('unknown key "411111******1111"'),
    });
  });

  it('applies the default disposition', () => {
    const r = toCanonical({ type: 'return.request', id: 'r', receipt: 'R-1', lines: [{ line: 1, qty: 1 }] });
    expect(r.ok && r.message.type === 'return.request' && r.message.lines[0]!.disposition).toBe('restock');
  });
});
