import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { currencyExponent, formatMoney } from '../src/money.js';
import {
  DEFAULT_POLICY,
  decisionLinesOf,
  evaluateReturn,
  lineAmount,
  mergePolicy,
  returnAmount,
  shareOf,
  toMilli,
  type EvaluationInput,
  type Policy,
} from '../src/index.js';

const NOW = Date.parse('2026-11-27T12:00:00Z');
const SOLD_AT = '2026-11-26T10:00:00Z';

/** One sale line, and the policy evaluation of a return of `milli` of it given what earlier returns took. */
function ask(p: { qty: number; unitPrice: number; policy?: Policy }, claimed: number, refunded: number, milli: number) {
  const input: EvaluationInput = {
    policy: p.policy ?? DEFAULT_POLICY,
    mode: 'online',
    now: NOW,
    sale: {
      at: SOLD_AT,
      channel: 'store',
      lines: [{ line: 1, sku: 'TV-1', qty: p.qty, unitPrice: p.unitPrice }],
      tenderKinds: ['card'],
    },
    noReceipt: false,
    claimed: new Map([[1, claimed]]),
    refunded: new Map([[1, refunded]]),
    requested: [{ line: 1, qty: milli / 1000 }],
    approvedToday: { store: 0, register: 0 },
  };
  return evaluateReturn(input);
}

describe('money: what a return refunds', () => {
  it('prices a return as everything returned so far minus what was refunded, never each return on its own', () => {
    expect(lineAmount(500, 999)).toBe(500); // 499.5 rounds up
    expect(returnAmount(999, { milli: 0, amount: 0 }, 500)).toBe(500);
    expect(returnAmount(999, { milli: 500, amount: 500 }, 500)).toBe(499);
    expect(returnAmount(999, { milli: 500, amount: 600 }, 100)).toBe(0); // never negative
  });

  it('a share of an authorized amount rounds down and is exact for large numbers', () => {
    expect(shareOf(999, 500, 1000)).toBe(499);
    expect(shareOf(999, 1000, 1000)).toBe(999);
    expect(shareOf(999, 0, 1000)).toBe(0);
    expect(shareOf(Number.MAX_SAFE_INTEGER, 999_999_999, 1_000_000_000)).toBe(Number.MAX_SAFE_INTEGER - 9_007_200);
  });

  it('one unit at 999 returned as 0.5 and 0.5 refunds 500 + 499, not 500 + 500', () => {
    const first = ask({ qty: 1000, unitPrice: 999 }, 0, 0, 500);
    expect(first).toMatchObject({ decision: 'approved', refundAmount: 500, lines: [{ amount: 500 }] });
    const second = ask({ qty: 1000, unitPrice: 999 }, 500, 500, 500);
    expect(second).toMatchObject({ decision: 'approved', refundAmount: 499, lines: [{ amount: 499 }] });
  });

  it('tells the register what each line refunds and its fee', () => {
    const ev = ask(
      {
        qty: 1000,
        unitPrice: 80_000,
        policy: mergePolicy(DEFAULT_POLICY, { restockingFees: [{ skuPrefix: 'TV-', percent: 15 }] }),
      },
      0,
      0,
      1000,
    );
    expect(decisionLinesOf(ev)).toEqual([
      { line: 1, approvedQty: 1, code: 'ok', refund: 68_000, fee: 12_000, rules: ['restocking_fee'] },
    ]);
  });
});

/**
 * The hub's bookkeeping of one sale line, run on the shared evaluation: returns are asked for,
 * completed (in full or in part, never refunding more than their share of the authorization), or
 * cancelled. What counts against the line: completed returns, and approvals still held.
 */
type Op = { t: 'ask'; share: number } | { t: 'complete'; pick: number; part: number } | { t: 'cancel'; pick: number };
interface Held {
  milli: number;
  amount: number;
  fee: number;
  state: 'held' | 'completed' | 'cancelled';
  refunded: number;
}

describe('money never grows (property)', () => {
  const op: fc.Arbitrary<Op> = fc.oneof(
    // a share of what is left, in thousandths (over 1000: more than is left, refused)
    fc.record({
      t: fc.constant('ask' as const),
      share: fc.oneof(fc.constant(1000), fc.integer({ min: 1, max: 1100 })),
    }),
    fc.record({ t: fc.constant('complete' as const), pick: fc.nat(), part: fc.integer({ min: 1, max: 1000 }) }),
    fc.record({ t: fc.constant('cancel' as const), pick: fc.nat() }),
  );

  it(
    'summed over every return of a line, refunds never exceed what was paid for it; ' +
      'a completion never exceeds its authorization',
    () => {
      fc.assert(
        fc.property(
          fc.integer({ min: 1, max: 5000 }), // sold, milli-units
          fc.integer({ min: 0, max: 1_000_000 }), // unit price
          fc.constantFrom(0, 7.5, 15, 33),
          fc.array(op, { maxLength: 40 }),
          (sold, unitPrice, pct, ops) => {
            const policy = mergePolicy(DEFAULT_POLICY, {
              restockingFees: pct > 0 ? [{ skuPrefix: 'TV-', percent: pct }] : [],
            });
            const paid = lineAmount(sold, unitPrice);
            const returns: Held[] = [];
            const counted = () => returns.filter((r) => r.state !== 'cancelled');
            for (const o of ops) {
              if (o.t === 'ask') {
                const c = counted();
                const claimed = c.reduce((s, r) => s + r.milli, 0);
                const milli = Math.max(1, Math.round(((sold - claimed) * o.share) / 1000));
                const ev = ask(
                  { qty: sold, unitPrice, policy },
                  claimed,
                  c.reduce((s, r) => s + r.amount, 0),
                  milli,
                );
                const l = ev.lines[0]!;
                if (l.approvedMilli > 0) {
                  expect(ev.refundAmount).toBe(l.amount - l.fee);
                  returns.push({ milli: l.approvedMilli, amount: l.amount, fee: l.fee, state: 'held', refunded: 0 });
                }
              } else {
                const held = returns.filter((r) => r.state === 'held');
                const r = held[o.pick % Math.max(1, held.length)];
                if (!r) continue;
                if (o.t === 'cancel') r.state = 'cancelled';
                else {
                  const done = Math.max(1, Math.floor((r.milli * o.part) / 1000));
                  const cap = shareOf(r.amount - r.fee, done, r.milli);
                  expect(cap).toBeLessThanOrEqual(r.amount - r.fee);
                  r.amount = shareOf(r.amount, done, r.milli);
                  r.milli = done;
                  r.refunded = cap;
                  r.state = 'completed';
                }
              }
              const c = counted();
              expect(c.reduce((s, x) => s + x.milli, 0)).toBeLessThanOrEqual(sold);
              expect(c.reduce((s, x) => s + x.amount, 0)).toBeLessThanOrEqual(paid);
              expect(returns.reduce((s, x) => s + x.refunded, 0)).toBeLessThanOrEqual(paid);
            }
          },
        ),
        { numRuns: 500 },
      );
    },
  );

  it('a line returned in any number of pieces, each completed in full, refunds exactly what was paid for it', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 1_000_000 }),
        fc.array(fc.integer({ min: 1, max: 2000 }), { minLength: 1, maxLength: 20 }),
        (unitPrice, pieces) => {
          const sold = pieces.reduce((s, p) => s + p, 0);
          let milli = 0;
          let refunded = 0;
          for (const p of pieces) {
            const ev = ask({ qty: sold, unitPrice }, milli, refunded, p);
            expect(ev.decision).toBe('approved');
            milli += p;
            refunded += ev.refundAmount;
          }
          expect(refunded).toBe(lineAmount(sold, unitPrice));
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('rules reach the register as codes', () => {
  const sale = (at: string) => ({
    at,
    channel: 'store',
    lines: [{ line: 1, sku: 'A', qty: toMilli(2), unitPrice: 2000 }],
    tenderKinds: ['card'],
  });
  const base = (over: Partial<EvaluationInput>): EvaluationInput => ({
    policy: DEFAULT_POLICY,
    mode: 'online',
    now: NOW,
    sale: sale(SOLD_AT),
    noReceipt: false,
    claimed: new Map(),
    requested: [{ line: 1, qty: 1 }],
    approvedToday: { store: 0, register: 0 },
    ...over,
  });

  it.each([
    ['outside the window', { sale: sale('2026-09-01T10:00:00Z') }, 'outside_window', ['outside_window']],
    [
      'over the manager threshold',
      { policy: mergePolicy(DEFAULT_POLICY, { managerOverrideAbove: 1000 }) },
      'manager_override_required',
      ['manager_override_required'],
    ],
    [
      'over the store daily limit',
      {
        policy: mergePolicy(DEFAULT_POLICY, { maxRefundPerStorePerDay: 2500 }),
        approvedToday: { store: 1000, register: 0 },
      },
      'store_daily_limit',
      ['store_daily_limit'],
    ],
    [
      'outside the window and over the manager threshold',
      { sale: sale('2026-09-01T10:00:00Z'), policy: mergePolicy(DEFAULT_POLICY, { managerOverrideAbove: 1000 }) },
      'outside_window',
      ['outside_window', 'manager_override_required'],
    ],
  ] as const)('override_required %s: the held line carries the rule, not ok', (_name, over, code, rules) => {
    const ev = evaluateReturn(base(over));
    expect(ev.decision).toBe('override_required');
    expect(decisionLinesOf(ev)).toEqual([{ line: 1, approvedQty: 1, code, refund: 2000, rules: [...rules] }]);
    // once a manager overrides, the line is ok, and the override is one of its rules
    const ok = evaluateReturn({ ...base(over), overridden: true });
    expect(decisionLinesOf(ok)[0]).toMatchObject({ code: 'ok', rules: [...rules, 'overridden'] });
  });

  it.each([
    [
      'over the per-return limit',
      { policy: mergePolicy(DEFAULT_POLICY, { maxRefundPerReturn: 1000 }) },
      'max_refund_exceeded',
    ],
    [
      'outside a window no manager may override',
      { sale: sale('2026-09-01T10:00:00Z'), policy: mergePolicy(DEFAULT_POLICY, { windowOverridable: false }) },
      'outside_window',
    ],
    [
      'without a receipt',
      { sale: undefined, noReceipt: true, requested: [{ sku: 'A', qty: 1, unitPrice: 10 }] },
      'receipt_required',
    ],
    [
      'offline, needing a manager',
      { mode: 'offline' as const, sale: sale('2026-09-01T10:00:00Z') },
      'override_unavailable_offline',
    ],
  ] as const)('denied %s: the line carries the rule', (_name, over, code) => {
    const ev = evaluateReturn(base(over as Partial<EvaluationInput>));
    expect(ev.decision).toBe('denied');
    const [line] = decisionLinesOf(ev);
    expect(line).toMatchObject({ approvedQty: 0, code });
    expect(line!.rules).toContain(code);
    expect(line!.refund).toBeUndefined();
  });

  it('offline, the rule that needed a manager is named too', () => {
    const ev = evaluateReturn(base({ mode: 'offline', sale: sale('2026-09-01T10:00:00Z') }));
    expect(decisionLinesOf(ev)[0]!.rules).toEqual(['outside_window', 'override_unavailable_offline']);
  });
});

describe("formatMoney: minor units in the currency's own decimals", () => {
  it.each([
    [4897, 'EUR', '48.97 EUR'],
    [5, 'EUR', '0.05 EUR'],
    [0, 'EUR', '0.00 EUR'],
    [-1999, 'USD', '-19.99 USD'],
    [4897, 'JPY', '4897 JPY'],
    [-300, 'JPY', '-300 JPY'],
    [12345, 'BHD', '12.345 BHD'],
    [7, 'KWD', '0.007 KWD'],
    [100, 'CLF', '0.0100 CLF'],
  ])('%i %s → %s', (minor, currency, text) => {
    expect(formatMoney(minor, currency)).toBe(text);
  });

  it('takes the exponent from the currency code', () => {
    expect(currencyExponent('EUR')).toBe(2);
    expect(currencyExponent('JPY')).toBe(0);
    expect(currencyExponent('KRW')).toBe(0);
    expect(currencyExponent('BHD')).toBe(3);
  });

  it('shows an amount in a code that is not a currency as it is stored, saying so', () => {
    expect(currencyExponent('EURO')).toBeNull();
    expect(formatMoney(4897, 'EURO')).toBe('4897 (minor units) EURO');
  });
});
