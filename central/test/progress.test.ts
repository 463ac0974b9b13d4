import { describe, expect, it } from 'vitest';
import { Progress } from '../src/cli/progress.js';
import { capturingStream } from './helpers.js';

describe('Progress', () => {
  it('draws a bar on a terminal, in place, and clears it when done', () => {
    const { s, out } = capturingStream(true);
    const p = new Progress('import', 200, s);
    p.update(50);
    expect(out()).toContain('import [########......................]  25 % 50/200');
    p.update(200); // the last update is always drawn, however soon
    expect(out()).toContain('100 % 200/200');
    p.note('applying');
    p.done();
    expect(out().endsWith('\r\x1b[K')).toBe(true);
    expect(out()).not.toContain('\n'); // redrawn in place
  });

  it('shows the counts in the given format, with a detail after the bar', () => {
    const { s, out } = capturingStream(true);
    const p = new Progress('stock.csv: sending', 2_000_000, s, (n) => `${(n / 1e6).toFixed(1)} MB`);
    expect(p.active).toBe(true);
    p.update(500_000, '1,000 rows checked');
    expect(out()).toContain(
      'stock.csv: sending [########......................]  25 % 0.5 MB/2.0 MB · 1,000 rows checked',
    );
  });

  it('prints nothing when stderr is not a terminal (pipes, scripts, CI)', () => {
    const { s, out } = capturingStream(false);
    const p = new Progress('import', 10, s);
    expect(p.active).toBe(false);
    p.update(5);
    p.note('x');
    p.done();
    expect(out()).toBe('');
  });
});
