import { describe, expect, it } from 'vitest';
import { compareToFloor, coverageTotals, parseFloor, raiseFloor } from '@tillbridge/scripts/lib/coverage-floor';

const floor = { lines: 70, statements: 70, functions: 65, branches: 60 };

describe('coverage floor', () => {
  it('passes a metric at or above its floor and fails one below it', () => {
    const verdicts = compareToFloor({ lines: 70, statements: 71.5, functions: 64.99, branches: 80 }, floor);
    expect(verdicts.map((v) => [v.metric, v.ok])).toEqual([
      ['lines', true],
      ['statements', true],
      ['functions', false],
      ['branches', true],
    ]);
  });

  it('raises only upwards, to two decimals rounded down', () => {
    expect(raiseFloor({ lines: 75.678, statements: 69, functions: 65, branches: 61.111 }, floor)).toEqual({
      lines: 75.67,
      statements: 70,
      functions: 65,
      branches: 61.11,
    });
  });

  it("reads vitest's json-summary totals and refuses a report or floor missing a metric", () => {
    const summary = {
      total: {
        lines: { total: 10, covered: 8, skipped: 0, pct: 80 },
        statements: { pct: 79 },
        functions: { pct: 50 },
        branches: { pct: 40.5 },
      },
    };
    expect(coverageTotals(summary)).toEqual({ lines: 80, statements: 79, functions: 50, branches: 40.5 });
    expect(() => coverageTotals({ total: { lines: { pct: 1 } } })).toThrow(/statements/);
    expect(() => parseFloor({ lines: 1, statements: 1, functions: 1 })).toThrow(/branches/);
    expect(parseFloor(floor)).toEqual(floor);
  });
});
