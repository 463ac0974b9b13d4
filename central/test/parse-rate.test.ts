import { describe, expect, it } from 'vitest';
import { parseRate } from '../src/cli/format.js';

describe('--token-limit COUNT/DURATION', () => {
  it('reads a count and a duration', () => {
    expect(parseRate('10/5m')).toEqual({ count: 10, periodMs: 300_000 });
    expect(parseRate(' 1/2s ')).toEqual({ count: 1, periodMs: 2000 });
  });

  it('refuses what is not one, naming what it expected', () => {
    for (const bad of ['10', '0/5m', '10/0s', '10/500ms', '-1/5m', '1.5/5m', '10/soon', '/5m']) {
      expect(() => parseRate(bad), bad).toThrow(/expected COUNT\/DURATION such as 10\/5m/);
    }
  });
});
