import { describe, expect, it } from 'vitest';
import { isTbError, TbCodes } from '@tillbridge/shared';
import { LengthPrefixedFramer, type LengthPrefixedFramerOptions } from '../src/gateway/framing/length-prefixed.js';
import { LengthPrefixedFramingSchema, makeFramer } from '../src/gateway/framing/schemas.js';
import type { FramerOutput } from '../src/gateway/types.js';

const framer = (over: Partial<LengthPrefixedFramerOptions> = {}) =>
  new LengthPrefixedFramer({ bytes: 2, maxFrameBytes: 16, interByteTimeoutMs: 0, ...over });
const hex = (h: string) => Buffer.from(h.replace(/\s+/g, ''), 'hex');
const show = (outs: FramerOutput[]) =>
  outs.map((o) =>
    o.kind === 'frame' ? `F:${o.payload.toString('latin1')}` : o.kind === 'error' ? `E:${o.code}` : o.kind,
  );

describe('LengthPrefixedFramer', () => {
  it('encodes a big-endian length of 2 or 4 bytes before the payload', () => {
    expect(framer().encode(Buffer.from('hello')).toString('hex')).toBe('000568656c6c6f');
    expect(framer({ bytes: 4 }).encode(Buffer.from('hello')).toString('hex')).toBe('0000000568656c6c6f');
    expect(framer().encode(Buffer.alloc(0)).toString('hex')).toBe('0000');
    expect(framer().encode(Buffer.alloc(300)).subarray(0, 2).toString('hex')).toBe('012c');
  });

  it('decodes a frame, with 2- and 4-byte lengths', () => {
    expect(show(framer().push(hex('0005 68656c6c6f')))).toEqual(['F:hello']);
    expect(show(framer({ bytes: 4 }).push(hex('00000005 68656c6c6f')))).toEqual(['F:hello']);
  });

  it('gives the same result whichever byte the stream is split at, header included', () => {
    const wire = hex('0003 616263 0000 0001 7a 0002 0102');
    for (let k = 1; k < wire.length; k++) {
      const f = framer();
      const outs = [...f.push(wire.subarray(0, k)), ...f.push(wire.subarray(k))];
      expect(show(outs), `split at ${k}`).toEqual(['F:abc', 'F:z', 'F:\x01\x02']);
    }
    const f = framer({ bytes: 4 });
    const outs = [...hex('00000002 6162 00000001 63')].flatMap((byte) => f.push(Buffer.of(byte)));
    expect(show(outs)).toEqual(['F:ab', 'F:c']);
  });

  it('ignores a zero length', () => {
    const f = framer();
    expect(f.push(hex('0000 0000'))).toEqual([]);
    expect(f.buffered()).toBe(0);
  });

  it('counts header and payload bytes held for an incomplete frame', () => {
    const f = framer();
    f.push(hex('00'));
    expect(f.buffered()).toBe(1);
    f.push(hex('05 6162'));
    expect(f.buffered()).toBe(2);
    expect(show(f.push(hex('636465')))).toEqual(['F:abcde']);
    expect(f.buffered()).toBe(0);
  });

  it('reports an oversize length once and skips exactly that many bytes without holding them', () => {
    const f = framer();
    const outs = f.push(hex('0020'));
    expect(outs).toEqual([
      { kind: 'error', code: TbCodes.FRAME_TOO_LARGE, message: 'frame longer than 16 bytes discarded' },
    ]);
    for (let i = 0; i < 6; i++) {
      expect(f.push(Buffer.alloc(5, 0x41))).toEqual([]);
      expect(f.buffered()).toBe(0);
    }
    // 30 of the 32 declared bytes skipped; the last 2, then a good frame
    expect(show(f.push(hex('4141 0002 6f6b')))).toEqual(['F:ok']);
  });

  it('skips a 4 GiB declared frame as it arrives, in constant memory', () => {
    const f = framer({ bytes: 4, maxFrameBytes: 65_536 });
    expect(show(f.push(hex('ffffffff')))).toEqual([`E:${TbCodes.FRAME_TOO_LARGE}`]);
    const mib = Buffer.alloc(1 << 20);
    for (let i = 0; i < 16; i++) expect(f.push(mib)).toEqual([]);
    expect(f.buffered()).toBe(0);
  });

  it('accepts a frame of exactly maxFrameBytes', () => {
    expect(show(framer().push(Buffer.concat([hex('0010'), Buffer.alloc(16, 0x61)])))).toEqual([`F:${'a'.repeat(16)}`]);
  });

  it('discards a partial header or body older than the timeout with one error', () => {
    const f = framer({ interByteTimeoutMs: 5000 });
    f.push(hex('00'), 0);
    expect(show(f.push(hex('0002 6f6b'), 5001))).toEqual([`E:${TbCodes.MALFORMED}`, 'F:ok']);
    f.push(hex('0003 61'), 10_000);
    // 5000 ms is not more than the timeout
    expect(show(f.push(hex('62'), 15_000))).toEqual([]);
    expect(show(f.push(Buffer.alloc(0), 20_001))).toEqual([`E:${TbCodes.MALFORMED}`]);
    expect(f.buffered()).toBe(0);
    expect(show(f.push(hex('0001 7a'), 20_002))).toEqual(['F:z']);
  });

  it('drops an unfinished oversize skip on timeout without a second error', () => {
    const f = framer({ interByteTimeoutMs: 100 });
    expect(show(f.push(hex('0100'), 0))).toEqual([`E:${TbCodes.FRAME_TOO_LARGE}`]);
    expect(show(f.push(hex('0001 7a'), 101))).toEqual(['F:z']);
  });

  it('refuses to encode a reply its length field cannot hold', () => {
    let caught: unknown;
    try {
      framer().encode(Buffer.alloc(65_536));
    } catch (err) {
      caught = err;
    }
    expect(isTbError(caught, TbCodes.FRAME_TOO_LARGE)).toBe(true);
    expect(framer().encode(Buffer.alloc(65_535)).subarray(0, 2).toString('hex')).toBe('ffff');
  });

  it('is configured by LengthPrefixedFramingSchema with its defaults', () => {
    const cfg = LengthPrefixedFramingSchema.parse({ type: 'length-prefixed' });
    expect(cfg).toEqual({ type: 'length-prefixed', bytes: 2, maxFrameBytes: 65_536, interByteTimeoutMs: 5000 });
    expect(makeFramer(cfg)()).toBeInstanceOf(LengthPrefixedFramer);
    expect(LengthPrefixedFramingSchema.safeParse({ type: 'length-prefixed', bytes: 3 }).success).toBe(false);
    expect(LengthPrefixedFramingSchema.parse({ type: 'length-prefixed', bytes: 4 }).bytes).toBe(4);
  });
});
