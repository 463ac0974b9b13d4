import { describe, expect, it } from 'vitest';
import {
  judgeReturn,
  LineCodes,
  refuseAll,
  returnableLines,
  derivedId,
  fullJitterDelay,
  lineAmount,
  toMilli,
} from '../src/index.js';

const sold = [
  { line: 1, sku: 'A', qty: toMilli(2), unitPrice: 1000 },
  { line: 2, sku: 'B', qty: toMilli(1.5), unitPrice: 400 },
];

describe('judgeReturn', () => {
  it('approves what is still returnable and prices the refund', () => {
    const j = judgeReturn(sold, new Map(), [
      { line: 1, qty: 2 },
      { line: 2, qty: 0.5 },
    ]);
    expect(j.decision).toBe('approved');
    expect(j.lines.map((l) => l.code)).toEqual([LineCodes.OK, LineCodes.OK]);
    expect(j.refund).toBe(2000 + 200);
  });

  it('refuses a line asking for more than is left, judging the others on their own', () => {
    const j = judgeReturn(sold, new Map([[1, toMilli(1)]]), [
      { line: 1, qty: 2 },
      { line: 2, qty: 1 },
    ]);
    expect(j.decision).toBe('approved');
    expect(j.lines[0]).toMatchObject({ approvedMilli: 0, code: LineCodes.EXCEEDS_RETURNABLE });
    expect(j.lines[1]).toMatchObject({ approvedMilli: 1000, code: LineCodes.OK });
    expect(j.refund).toBe(400);
    expect(j.reason).toContain('line 1');
  });

  it('denies when no line passes, and for unknown receipts and lines', () => {
    expect(judgeReturn(sold, new Map([[1, toMilli(2)]]), [{ line: 1, qty: 1 }]).decision).toBe('denied');
    const none = judgeReturn(undefined, new Map(), [{ line: 1, qty: 1 }]);
    expect(none.decision).toBe('denied');
    expect(none.lines[0]!.code).toBe(LineCodes.RECEIPT_NOT_FOUND);
    expect(judgeReturn(sold, new Map(), [{ line: 9, qty: 1 }]).lines[0]!.code).toBe(LineCodes.LINE_NOT_FOUND);
  });

  it('resolves a line asked for by SKU to a receipt line with enough left, never one named elsewhere', () => {
    const twoA = [...sold, { line: 3, sku: 'A', qty: toMilli(1), unitPrice: 900 }];
    const j = judgeReturn(twoA, new Map([[1, toMilli(2)]]), [{ sku: 'A', qty: 1 }]);
    expect(j.lines[0]).toMatchObject({ line: 3, askedBySku: 'A', code: LineCodes.OK, approvedMilli: 1000 });
    expect(j.refund).toBe(900);
    const k = judgeReturn(twoA, new Map(), [
      { line: 1, qty: 1 },
      { sku: 'A', qty: 1 },
    ]);
    expect(k.lines.map((l) => l.line)).toEqual([1, 3]);
    const none = judgeReturn(twoA, new Map(), [{ sku: 'ZZZ', qty: 1 }]);
    expect(none).toMatchObject({
      decision: 'denied',
      lines: [{ line: 0, askedBySku: 'ZZZ', code: LineCodes.LINE_NOT_FOUND }],
      reason: 'sku ZZZ: line_not_found',
    });
  });

  it('refuseAll turns every approved line into the given code', () => {
    const j = refuseAll(judgeReturn(sold, new Map(), [{ line: 1, qty: 1 }]), LineCodes.OFFLINE_LIMIT, 'too much');
    expect(j).toMatchObject({ decision: 'denied', refund: 0, reason: 'too much' });
    expect(j.lines[0]).toMatchObject({ approvedMilli: 0, code: LineCodes.OFFLINE_LIMIT });
  });
});

describe('small helpers', () => {
  it('derivedId is stable, distinct per input, and UUID-shaped', () => {
    const a = derivedId('agent', 'R1', 'm1');
    expect(a).toBe(derivedId('agent', 'R1', 'm1'));
    expect(a).not.toBe(derivedId('agent', 'R1', 'm2'));
    expect(derivedId('ab', 'c')).not.toBe(derivedId('a', 'bc'));
    expect(a).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });

  it('full-jitter backoff stays within [0, min(cap, base·2^n)]', () => {
    expect(fullJitterDelay(3, { baseMs: 100, capMs: 10_000, random: () => 0.999 })).toBe(799);
    expect(fullJitterDelay(20, { baseMs: 100, capMs: 10_000, random: () => 0.5 })).toBe(5000);
    expect(fullJitterDelay(0, { baseMs: 100, capMs: 10_000, random: () => 0 })).toBe(0);
  });

  it('prices weighed quantities in minor units, rounding half away from zero', () => {
    expect(lineAmount(toMilli(0.375), 1999)).toBe(750);
    expect(lineAmount(toMilli(1), -500)).toBe(-500);
  });
});

describe('returnableLines', () => {
  it('shows each line in units with what is left to return, never below 0', () => {
    const claimed = new Map([
      [1, toMilli(0.5)],
      [2, toMilli(3)],
    ]);
    expect(returnableLines(sold, claimed)).toEqual([
      { line: 1, sku: 'A', qty: 2, unitPrice: 1000, returnable: 1.5 },
      { line: 2, sku: 'B', qty: 1.5, unitPrice: 400, returnable: 0 },
    ]);
    expect(returnableLines(sold, new Map()).map((l) => l.returnable)).toEqual([2, 1.5]);
  });
});
