/** The coverage floor: the percentages the test suite's coverage may not fall below, and raised only upwards. */

export const COVERAGE_METRICS = ['lines', 'statements', 'functions', 'branches'] as const;
export type CoverageMetric = (typeof COVERAGE_METRICS)[number];
export type CoverageFloor = Record<CoverageMetric, number>;

/**
 * What vitest's json-summary reporter writes to coverage/coverage-summary.json (the part read here), each part
 * optional: the file comes from outside, and a missing metric is reported by coverageTotals.
 */
export interface CoverageSummary {
  total?: Partial<Record<CoverageMetric, { pct?: number }>>;
}

export interface MetricVerdict {
  metric: CoverageMetric;
  actual: number;
  floor: number;
  ok: boolean;
}

/** Reads the totals out of a json-summary report; throws when one of the four metrics is missing. */
export function coverageTotals(summary: unknown): CoverageFloor {
  const total = (summary as CoverageSummary | null)?.total;
  const totals = {} as CoverageFloor;
  for (const metric of COVERAGE_METRICS) {
    const pct = total?.[metric]?.pct;
    if (typeof pct !== 'number') throw new Error(`coverage summary has no total.${metric}.pct`);
    totals[metric] = pct;
  }
  return totals;
}

/** Reads coverage-floor.json ({ lines, statements, functions, branches } in percent); throws when one is missing. */
export function parseFloor(value: unknown): CoverageFloor {
  const record = (value ?? {}) as Partial<Record<CoverageMetric, unknown>>;
  const floor = {} as CoverageFloor;
  for (const metric of COVERAGE_METRICS) {
    const pct = record[metric];
    if (typeof pct !== 'number') throw new Error(`coverage floor has no number for ${metric}`);
    floor[metric] = pct;
  }
  return floor;
}

/** Each metric against its floor; a metric at its floor passes. */
export function compareToFloor(actual: CoverageFloor, floor: CoverageFloor): MetricVerdict[] {
  return COVERAGE_METRICS.map((metric) => ({
    metric,
    actual: actual[metric],
    floor: floor[metric],
    ok: actual[metric] >= floor[metric],
  }));
}

/** The floor raised to what was measured, metric by metric; never lower than it was. */
export function raiseFloor(actual: CoverageFloor, floor: CoverageFloor): CoverageFloor {
  const raised = { ...floor };
  for (const metric of COVERAGE_METRICS)
    raised[metric] = Math.max(floor[metric], Math.floor(actual[metric] * 100) / 100);
  return raised;
}
