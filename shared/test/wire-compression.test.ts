import { createHash } from 'node:crypto';
import { deflateRawSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import {
  COMPRESS_MIN_BYTES,
  COMPRESSED_FRAMES_FROM,
  inflateFrame,
  outgoingFrame,
  PROTOCOL_4_DICTIONARY,
} from '../src/wire-compression.js';
import { TbCodes } from '../src/errors.js';

const MAX = 1024 * 1024;

const eventsFrame = JSON.stringify({
  t: 'events',
  items: [
    {
      seq: 41,
      id: '0193a1f2-7c4e-7d21-9b1a-5e6f7a8b9c0d',
      kind: 'sale',
      register: 'R2',
      at: '2026-12-01T10:15:31.123Z',
      body: {
        requestId: 'pos-2-000481',
        receipt: 'B1-R2-000481',
        at: '2026-12-01T10:15:31.120Z',
        currency: 'EUR',
        lines: [{ line: 1, sku: 'SKU-4711', qty: 1, unitPrice: 1999 }],
        tenders: [{ kind: 'cash', amount: 1999 }],
      },
    },
  ],
});

describe('compressed frames (protocol 4)', () => {
  it('deflates a long frame once the protocol has them, and the hub reads back the same text', () => {
    const sent = outgoingFrame(eventsFrame, COMPRESSED_FRAMES_FROM);
    expect(Buffer.isBuffer(sent)).toBe(true);
    expect((sent as Buffer).length).toBeLessThan(Buffer.byteLength(eventsFrame) / 2);
    expect(inflateFrame(sent as Buffer, COMPRESSED_FRAMES_FROM, MAX)).toBe(eventsFrame);
  });

  it('sends text before protocol 4, and for short frames', () => {
    expect(outgoingFrame(eventsFrame, COMPRESSED_FRAMES_FROM - 1)).toBe(eventsFrame);
    expect(outgoingFrame(eventsFrame, undefined)).toBe(eventsFrame);
    const short = JSON.stringify({ t: 'key.ack', id: 'k1' });
    expect(Buffer.byteLength(short)).toBeLessThan(COMPRESS_MIN_BYTES);
    expect(outgoingFrame(short, COMPRESSED_FRAMES_FROM)).toBe(short);
  });

  it.each([
    ['a connection of protocol 3', 3, /from version 4 on \(this connection speaks 3\)/],
    ['a connection not welcomed yet', undefined, /after the welcome/],
  ])('refuses a binary frame on %s', (_, protocol, message) => {
    const sent = outgoingFrame(eventsFrame, COMPRESSED_FRAMES_FROM) as Buffer;
    expect(() => inflateFrame(sent, protocol, MAX)).toThrow(message);
  });

  it('refuses bytes that are not a compressed frame, as malformed', () => {
    let caught: unknown;
    try {
      inflateFrame(Buffer.from([0xff, 0x00, 0x13, 0x37, 0x42]), COMPRESSED_FRAMES_FROM, MAX);
    } catch (err) {
      caught = err;
    }
    expect(caught).toMatchObject({ code: TbCodes.MALFORMED, message: /not a compressed frame/ });
  });

  it('refuses a frame that would inflate past the bound a text frame has', () => {
    const bomb = deflateRawSync(Buffer.alloc(4 * MAX, 0x20), { dictionary: PROTOCOL_4_DICTIONARY });
    expect(bomb.length).toBeLessThan(8 * 1024);
    expect(() => inflateFrame(bomb, COMPRESSED_FRAMES_FROM, MAX)).toThrow(`inflates to more than ${MAX} bytes`);
  });

  it("keeps protocol 4's dictionary as it shipped: another dictionary is another protocol version", () => {
    expect(createHash('sha256').update(PROTOCOL_4_DICTIONARY).digest('hex')).toBe(
      '2d0853d7c7595eb4dd4f5cd3071a3427f4c89d9acffca1511da42f4387eb2d45',
    );
  });
});
