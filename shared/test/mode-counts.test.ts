import { describe, expect, it } from 'vitest';
import { setModeCounts, type LabelledGauge } from '../src/index.js';

/** A gauge that keeps its series as prom-client's does: by their labels, until reset. */
class SeriesGauge implements LabelledGauge {
  readonly series = new Map<string, number>();
  reset(): void {
    this.series.clear();
  }
  set(labels: Record<string, string>, value: number): void {
    this.series.set(JSON.stringify(labels), value);
  }
}

describe('setModeCounts', () => {
  it('sets one series per mode and outcome, under the label given', () => {
    const g = new SeriesGauge();
    setModeCounts(g, { online: { approved: 3, denied: 1 }, offline: { approved: 2 } }, 'decision');
    expect([...g.series]).toEqual([
      ['{"mode":"online","decision":"approved"}', 3],
      ['{"mode":"online","decision":"denied"}', 1],
      ['{"mode":"offline","decision":"approved"}', 2],
    ]);
  });

  it('leaves no series of an outcome no longer counted', () => {
    const g = new SeriesGauge();
    setModeCounts(g, { online: { denied: 1 }, offline: {} }, 'outcome');
    setModeCounts(g, { online: { approved: 1 }, offline: {} }, 'outcome');
    expect([...g.series]).toEqual([['{"mode":"online","outcome":"approved"}', 1]]);
  });
});
