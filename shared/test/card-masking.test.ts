import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { cardNumberSpans, findCardNumbers, luhnValid, maskCardNumbersIn, type CardScanMeter } from '../src/index.js';

/**
 * Card numbers in free text (DESIGN rule 6): a PAN is masked wherever it is written — alone,
 * grouped, right after or before other numbers — and only its digits are touched.
 */

/** A card issuer's first digits: 3-6, or a range of the 2s (Mir 2200-2204, Mastercard 2221-2720). */
const issuerPrefix = fc.oneof(
  fc.integer({ min: 3, max: 6 }).map(String),
  fc.integer({ min: 2200, max: 2204 }).map(String),
  fc.integer({ min: 2221, max: 2720 }).map(String),
);

/** Written independently of the scan: the same issuer ranges as a pattern. */
const ISSUER = /^(?:[3-6]|220[0-4]|222[1-9]|22[3-9]\d|2[3-6]\d\d|27[01]\d|2720)/;

/** A Luhn-valid PAN of 13-19 digits in an issuer's range, as a digit string. */
const panDigits = fc
  .tuple(
    issuerPrefix,
    fc.integer({ min: 13, max: 19 }),
    fc.array(fc.integer({ min: 0, max: 9 }), { minLength: 18, maxLength: 18 }),
  )
  .map(([prefix, len, rest]) => {
    const body = prefix + rest.slice(0, len - 1 - prefix.length).join('');
    for (let c = 0; c <= 9; c++) if (luhnValid(`${body}${c}`)) return `${body}${c}`;
    throw new Error('unreachable: one check digit always fits');
  });

/** The PAN as a register or a person might write it: digits, with single spaces or dashes between some of them. */
const writtenPan = fc
  .tuple(panDigits, fc.array(fc.constantFrom('', '', '', ' ', '-'), { minLength: 19, maxLength: 19 }))
  .map(([d, seps]) => ({
    digits: d,
    text: Array.from(d)
      .map((c, i) => (i === 0 ? c : `${seps[i]}${c}`))
      .join(''),
  }));

/** Free text heavy in digits, spaces and dashes, so PANs land next to other numbers. */
const freeText = fc.string({
  unit: fc.constantFrom(...Array.from('0123456789012345678901234567890123456789     ---abxyzAB.,:#/\n')),
  maxLength: 40,
});

/**
 * Brute force, the slow obvious way: every run of digits joined by single spaces or dashes, every window, Luhn from
 * scratch.
 */
function bruteWindows(text: string): { start: number; end: number }[] {
  const found: { start: number; end: number }[] = [];
  for (const m of text.matchAll(/\d(?:[ -]?\d)*/g)) {
    const at: number[] = [];
    for (let i = 0; i < m[0].length; i++) if (/\d/.test(m[0][i]!)) at.push(m.index + i);
    const digits = at.map((i) => text[i]).join('');
    for (let from = 0; from < digits.length; from++) {
      for (let len = 13; len <= 19 && from + len <= digits.length; len++) {
        const w = digits.slice(from, from + len);
        if (ISSUER.test(w) && luhnValid(w)) found.push({ start: at[from]!, end: at[from + len - 1]! + 1 });
      }
    }
  }
  return found;
}

/** What masking must produce: overlapping windows merged, each merged span as first 6, `*`s, last 4. */
function expectedMask(text: string): string {
  const ws = bruteWindows(text).sort((a, b) => a.start - b.start);
  const merged: { start: number; end: number }[] = [];
  for (const w of ws) {
    const last = merged[merged.length - 1];
    if (last && w.start < last.end) last.end = Math.max(last.end, w.end);
    else merged.push({ ...w });
  }
  let out = '';
  let at = 0;
  for (const s of merged) {
    const d = text.slice(s.start, s.end).replace(/[ -]/g, '');
    out += text.slice(at, s.start) + d.slice(0, 6) + '*'.repeat(d.length - 10) + d.slice(-4);
    at = s.end;
  }
  return out + text.slice(at);
}

const digitStreams = (text: string): string[] =>
  [...text.matchAll(/\d(?:[ -]?\d)*/g)].map((m) => m[0].replace(/[ -]/g, ''));

describe('card numbers in free text', () => {
  it.each([
    ['box 2 4242424242424242 signed', 'box 2 424242******4242 signed'],
    ['box 2-4242-4242-4242-4242', 'box 2-424242******4242'],
    ['qty 12 4111 1111 1111 1111 7', 'qty 12 411111******1111 7'],
    ['24242424242424242', '2424242******4242'],
    ['card4242424242424242x', 'card424242******4242x'],
    // ordinary numbers stay as they are
    ['2 boxes, 3 bags, order 12345 on 2026-11-27 10:30', '2 boxes, 3 bags, order 12345 on 2026-11-27 10:30'],
  ])('masks a PAN written right after another number (the return reason of the issue): %s', (text, masked) => {
    expect(maskCardNumbersIn(text)).toBe(masked);
  });

  it('masks a PAN inserted at every position of any text, touching nothing but the card-number windows', () => {
    fc.assert(
      fc.property(freeText, writtenPan, (text, pan) => {
        for (let i = 0; i <= text.length; i++) {
          const input = text.slice(0, i) + pan.text + text.slice(i);
          const out = maskCardNumbersIn(input);
          // the PAN is gone, and no card number at all is left in any run of digits
          expect(digitStreams(out).some((d) => d.includes(pan.digits))).toBe(false);
          expect(bruteWindows(out)).toEqual([]);
          // exactly the windows a brute-force search finds were masked, nothing else
          expect(out).toBe(expectedMask(input));
        }
      }),
      { numRuns: 300 },
    );
  });

  it('masks several PANs in one run of numbers, each shown at most as its own first 6 and last 4', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.oneof(
            writtenPan.map((p) => p.text),
            fc.stringMatching(/^\d{1,5}$/),
          ),
          { minLength: 1, maxLength: 6 },
        ),
        fc.constantFrom(' ', '-'),
        (parts, sep) => {
          const out = maskCardNumbersIn(parts.join(sep));
          expect(bruteWindows(out)).toEqual([]);
          expect(out).toBe(expectedMask(parts.join(sep)));
        },
      ),
      { numRuns: 300 },
    );
  });

  it(
    'finds a PAN written as its own group(s) next to other numbers (identifiers and scans), ' + 'but not inside a word',
    () => {
      fc.assert(
        fc.property(freeText, writtenPan, freeText, (before, pan, after) => {
          const spans = cardNumberSpans(`${before} ${pan.text} ${after}`, 'written');
          expect(spans.some((s) => s.digits.includes(pan.digits))).toBe(true);
        }),
        { numRuns: 300 },
      );
      expect(findCardNumbers('box 2 4242424242424242 signed')).toEqual(['4242424242424242']);
      expect(findCardNumbers('receipt 2026 4111-1111-1111-1111')).toEqual(['4111111111111111']);
      // a long receipt number is one number, not a card number inside it;
      // digits in a UUID or a digest are not one either
      expect(findCardNumbers('000120261127004242424242424242')).toEqual([]);
      expect(findCardNumbers('id 54827709-0687-70ab-9c1e-112233445566 hash f54827709068770e')).toEqual([]);
      expect(findCardNumbers('A4242424242424242')).toEqual([]);
    },
  );

  it('does not read a UUID as a card number written down, even when its first groups hold no letter', () => {
    // a UUID whose first 16 hex digits are all decimal and pass as a card number (8-4-4), whatever follows
    const hex = (n: number) =>
      fc.string({ unit: fc.constantFrom(...Array.from('0123456789abcdef')), minLength: n, maxLength: n });
    const pan16 = panDigits.filter((d) => d.length === 16);
    fc.assert(
      fc.property(pan16, hex(4), hex(12), (pan, g4, g5) => {
        const uuid = `${pan.slice(0, 8)}-${pan.slice(8, 12)}-${pan.slice(12)}-${g4}-${g5}`;
        expect(findCardNumbers(uuid)).toEqual([]);
        expect(findCardNumbers(`authorization ${uuid.toUpperCase()}, ret-${uuid}`)).toEqual([]);
        // the same digits written as a card number are one, beside the UUID too
        const written = `${pan.slice(0, 4)}-${pan.slice(4, 8)}-${pan.slice(8, 12)}-${pan.slice(12)}`;
        expect(findCardNumbers(`${written} ${uuid}`)).toEqual([pan]);
      }),
      { numRuns: 300 },
    );
    // an authorization id the agent derived (shared/src/ids.ts derivedId), refused as card data before 2026-12-02
    expect(findCardNumbers('46317902-0877-8295-91a6-f89642b8aaac')).toEqual([]);
    // its first three groups alone are not a UUID: written so, they are a card number
    expect(findCardNumbers('1 46317902-0877-8295 y')).toEqual(['4631790208778295']);
  });

  it("does not read a date written year first as the start of a card number, and still finds the 2s' cards", () => {
    const day = fc.date({
      min: new Date('2000-01-01T00:00:00Z'),
      max: new Date('2099-12-31T00:00:00Z'),
      noInvalidDate: true,
    });
    const ymd = (d: Date): string => d.toISOString().slice(0, 10);
    fc.assert(
      // up to 10 digits, so that the day and the sequence (`…-25-1234567890`) make no window of 13 by themselves
      fc.property(day, fc.stringMatching(/^\d{5,10}$/), (d, seq) => {
        // a receipt number of a date and a sequence, and the same written with dashes or after a date
        for (const text of [ymd(d).replaceAll('-', '') + seq, `${ymd(d)}-${seq}`, `${ymd(d)} ${seq}`]) {
          expect(findCardNumbers(text)).toEqual([]);
        }
      }),
      { numRuns: 500 },
    );
    // a Luhn-valid one, refused before the 2s were narrowed to their issuers' ranges
    expect(luhnValid('2026120200000018')).toBe(true);
    expect(findCardNumbers('2026120200000018')).toEqual([]);
    // Mastercard's 2-series and Mir are cards: the test numbers of Mastercard's 2-series, and a Mir range
    expect(findCardNumbers('2223003122003222 2222 4000 7000 0005')).toEqual(['2223003122003222', '2222400070000005']);
    expect(maskCardNumbersIn('card 2720992720992729.')).toBe('card 272099******2729.');
    expect(findCardNumbers('2200000000000004')).toEqual(['2200000000000004']);
  });

  it(
    'does linear work on a long run of digits: ' + 'at most 7 windows per digit, and a PAN at its end is still masked',
    () => {
      for (const n of [1_000, 100_000]) {
        const meter: CardScanMeter = { windows: 0 };
        const text = `${'7'.repeat(n)}4242424242424242`;
        const spans = cardNumberSpans(text, 'anywhere', meter);
        expect(meter.windows).toBeLessThanOrEqual(7 * (n + 16));
        expect(spans.at(-1)?.end).toBe(text.length);
        expect(maskCardNumbersIn(text).endsWith('******4242')).toBe(true);
        // grouped in single digits: the written (group-aligned) scan also checks at most 7 windows per group
        const grouped = { windows: 0 };
        cardNumberSpans(Array.from('7'.repeat(n)).join(' '), 'written', grouped);
        expect(grouped.windows).toBeLessThanOrEqual(7 * n);
      }
    },
  );
});
