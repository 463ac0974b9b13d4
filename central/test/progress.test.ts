import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { Progress } from '../src/cli/progress.js';

function stream(tty: boolean): { s: NodeJS.WriteStream; out: () => string } {
  let buf = '';
  const w = new Writable({
    write(chunk: Buffer, _enc, cb) {
      buf += chunk.toString();
      cb();
    },
  }) as unknown as NodeJS.WriteStream;
  (w as { isTTY?: boolean }).isTTY = tty;
  return { s: w, out: () => buf };
}

describe('Progress', () => {
  it('draws a bar on a terminal, in place, and clears it when done', () => {
    const { s, out } = stream(true);
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

  it('prints nothing when stderr is not a terminal (pipes, scripts, CI)', () => {
    const { s, out } = stream(false);
    const p = new Progress('import', 10, s);
    p.update(5);
    p.note('x');
    p.done();
    expect(out()).toBe('');
  });
});
