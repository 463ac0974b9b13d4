import { describe, expect, it } from 'vitest';
import { LineFramer } from '../src/gateway/framing/line.js';

const framer = (over: Partial<ConstructorParameters<typeof LineFramer>[0]> = {}) =>
  new LineFramer({ terminator: '\n', maxFrameBytes: 16, interByteTimeoutMs: 0, ...over });
const frames = (outs: ReturnType<LineFramer['push']>) =>
  outs.map((o) => (o.kind === 'frame' ? o.payload.toString() : o.kind === 'error' ? `!${o.code}` : `!${o.kind}`));

describe('LineFramer', () => {
  it('splits on the terminator across chunk boundaries and drops CR and empty lines', () => {
    const f = framer();
    expect(frames(f.push(Buffer.from('ab')))).toEqual([]);
    expect(frames(f.push(Buffer.from('c\r\n\nde\nf')))).toEqual(['abc', 'de']);
    expect(f.buffered()).toBe(1);
    expect(frames(f.push(Buffer.from('g\n')))).toEqual(['fg']);
  });

  it('discards an oversize frame up to its terminator with one error, then carries on', () => {
    const f = framer();
    const out = frames(f.push(Buffer.from('x'.repeat(40))));
    expect(out).toEqual(['!TB_FRAME_TOO_LARGE']);
    expect(f.buffered()).toBeLessThanOrEqual(1);
    expect(frames(f.push(Buffer.from('y'.repeat(40) + '\nok\n')))).toEqual(['ok']);
  });

  it('handles a multi-byte terminator split across chunks', () => {
    const f = framer({ terminator: '\r\n' });
    expect(frames(f.push(Buffer.from('one\r')))).toEqual([]);
    expect(frames(f.push(Buffer.from('\ntwo\r\n')))).toEqual(['one', 'two']);
  });

  it('drops a partial frame after the inter-byte timeout', () => {
    const f = framer({ interByteTimeoutMs: 100 });
    f.push(Buffer.from('stale'), 1000);
    expect(frames(f.push(Buffer.from('fresh\n'), 1200))).toEqual(['!TB_MALFORMED', 'fresh']);
  });

  it('keeps memory bounded whatever arrives', () => {
    const f = framer();
    for (let i = 0; i < 1000; i++) f.push(Buffer.alloc(1000, 0x41));
    expect(f.buffered()).toBeLessThanOrEqual(16);
  });
});
