import { connect, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger, isTbError, TbCodes, type RegisterMessage, type RegisterReply } from '@tillbridge/shared';
import { JsonlCodec } from '../src/gateway/codecs/jsonl.js';
import { makeFramer, StxEtxFramingSchema } from '../src/gateway/framing/schemas.js';
import { controlChar, lrcOf, StxEtxFramer, type StxEtxFramerOptions } from '../src/gateway/framing/stx-etx.js';
import { RegisterEndpoint } from '../src/gateway/register-endpoint.js';
import { TcpServerTransport } from '../src/gateway/transports/tcp-server.js';
import type { FramerOutput, MessageHandler } from '../src/gateway/types.js';

const STX = 0x02;
const ETX = 0x03;
const ACK = 0x06;
const NAK = 0x15;

const framer = (over: Partial<StxEtxFramerOptions> = {}) =>
  new StxEtxFramer({ lrc: true, ack: true, maxFrameBytes: 4096, interByteTimeoutMs: 0, ...over });
/** Bytes from latin1 text, single bytes, byte arrays and buffers. */
const b = (...parts: (string | number | number[] | Buffer)[]) =>
  Buffer.concat(
    parts.map((p) =>
      typeof p === 'string'
        ? Buffer.from(p, 'latin1')
        : typeof p === 'number'
          ? Buffer.of(p)
          : Buffer.isBuffer(p)
            ? p
            : Buffer.from(p),
    ),
  );
/** A well-formed frame with its LRC. */
const frame = (payload: string) => b(STX, payload, ETX, lrcOf(Buffer.from(payload, 'latin1')));
/** Outputs as short strings: ACK, NAK, F:payload, E:code, RESEND. */
const show = (outs: FramerOutput[]) =>
  outs.map((o) => {
    switch (o.kind) {
      case 'frame':
        return `F:${o.payload.toString('latin1')}`;
      case 'error':
        return `E:${o.code}`;
      case 'resend':
        return 'RESEND';
      case 'control':
        return o.bytes.length === 1 && o.bytes[0] === ACK
          ? 'ACK'
          : o.bytes.length === 1 && o.bytes[0] === NAK
            ? 'NAK'
            : `C:${o.bytes.toString('hex')}`;
    }
  });

describe('StxEtxFramer', () => {
  it('computes the LRC as XOR of payload and ETX, and encodes STX payload ETX LRC', () => {
    // H^E^L^L^O = 0x42, ^ETX = 0x41
    expect(lrcOf(Buffer.from('HELLO'))).toBe(0x41);
    expect(framer().encode(Buffer.from('HELLO')).toString('hex')).toBe('0248454c4c4f0341');
    expect(framer({ lrc: false }).encode(Buffer.from('HI')).toString('hex')).toBe('02484903');
    expect(controlChar('NAK')).toEqual(Buffer.of(NAK));
  });

  it('answers a good frame with ACK, then emits its payload', () => {
    const f = framer();
    const outs = f.push(b(STX, 'HELLO', ETX, 0x41));
    expect(show(outs)).toEqual(['ACK', 'F:HELLO']);
    expect(outs[0]).toEqual({ kind: 'control', bytes: Buffer.of(ACK) });
    expect(f.buffered()).toBe(0);
  });

  it('gives the same result whichever byte the stream is split at', () => {
    const wire = b('zz', frame('AB|12'), ACK, frame('CD'));
    for (let k = 1; k < wire.length; k++) {
      const f = framer();
      const outs = [...f.push(wire.subarray(0, k)), ...f.push(wire.subarray(k))];
      expect(show(outs), `split at ${k}`).toEqual(['ACK', 'F:AB|12', 'ACK', 'F:CD']);
    }
    const f = framer();
    const outs = [...wire].flatMap((byte) => f.push(Buffer.of(byte)));
    expect(show(outs)).toEqual(['ACK', 'F:AB|12', 'ACK', 'F:CD']);
  });

  it('holds only the payload of an incomplete frame', () => {
    const f = framer();
    expect(f.push(b(STX, 'abc'))).toEqual([]);
    expect(f.buffered()).toBe(3);
    expect(show(f.push(b('d', ETX)))).toEqual([]);
    expect(f.buffered()).toBe(4);
    expect(show(f.push(b(lrcOf(Buffer.from('abcd')))))).toEqual(['ACK', 'F:abcd']);
  });

  it('takes an LRC byte equal to STX or ETX as the LRC, not as a delimiter', () => {
    // "A@" XORs to 0x01, so its LRC is 0x02 (STX); "AA" XORs to 0, so its LRC is 0x03 (ETX)
    expect(frame('A@').toString('hex')).toBe('0241400302');
    expect(frame('AA').toString('hex')).toBe('0241410303');
    expect(show(framer().push(b(frame('A@'), frame('AA'), frame('x'))))).toEqual([
      'ACK',
      'F:A@',
      'ACK',
      'F:AA',
      'ACK',
      'F:x',
    ]);
  });

  it('treats ACK and NAK inside a frame as payload bytes', () => {
    const payload = Buffer.of(0x41, ACK, NAK, 0x1c);
    const outs = framer().push(b(STX, [...payload], ETX, lrcOf(payload)));
    expect(outs[1]).toEqual({ kind: 'frame', payload });
  });

  it('NAKs a frame failing its LRC, with a note that does not echo the frame, and nothing else', () => {
    const f = framer();
    const outs = f.push(b(STX, '4111111111111111', ETX, 0x00));
    expect(show(outs)).toEqual(['NAK']);
    const note = outs[0]?.kind === 'control' ? outs[0].note : undefined;
    expect(note).toMatch(/LRC/);
    expect(note).toContain(TbCodes.MALFORMED);
    expect(note).not.toContain('4111');
    // the register sends it again, correctly this time
    expect(show(f.push(frame('4111111111111111')))).toEqual(['ACK', 'F:4111111111111111']);
  });

  it('emits a retransmitted frame again (the codec derives the same id from it)', () => {
    expect(show(framer().push(b(frame('same'), frame('same'))))).toEqual(['ACK', 'F:same', 'ACK', 'F:same']);
  });

  it('ignores a bare ACK and turns a bare NAK into resend', () => {
    const f = framer();
    expect(show(f.push(b(ACK)))).toEqual([]);
    expect(show(f.push(b(NAK)))).toEqual(['RESEND']);
    expect(show(f.push(b(ACK, NAK, ACK, NAK)))).toEqual(['RESEND', 'RESEND']);
  });

  it('skips noise before STX, and NAKs once when more than maxFrameBytes of it arrives', () => {
    const f = framer({ maxFrameBytes: 8 });
    expect(show(f.push(b('12345678')))).toEqual([]);
    expect(show(f.push(b('9')))).toEqual(['NAK']);
    expect(show(f.push(Buffer.alloc(100, 0x41)))).toEqual([]);
    expect(f.buffered()).toBe(0);
    expect(show(f.push(frame('ok')))).toEqual(['ACK', 'F:ok']);
    // a complete frame ends the run: the next run of noise is reported again
    expect(show(f.push(b('123456789')))).toEqual(['NAK']);
  });

  it('restarts at an STX inside a frame, and counts the cut-short bytes as noise', () => {
    expect(show(framer().push(b(STX, 'ab', frame('cd'))))).toEqual(['ACK', 'F:cd']);
    const f = framer({ maxFrameBytes: 8 });
    // 5 + 5 cut-short bytes (with their STX) exceed 8
    expect(show(f.push(b(STX, 'abcd', STX, 'efgh', STX)))).toEqual(['NAK']);
    expect(show(f.push(b('xy', ETX, lrcOf(Buffer.from('xy')))))).toEqual(['ACK', 'F:xy']);
  });

  it('discards an oversize frame up to its ETX and LRC with one NAK, holding at most maxFrameBytes', () => {
    const f = framer({ maxFrameBytes: 8 });
    const outs = f.push(b(STX, '123456789'));
    expect(show(outs)).toEqual(['NAK']);
    expect(outs[0]?.kind === 'control' && outs[0].note).toContain(TbCodes.FRAME_TOO_LARGE);
    expect(f.buffered()).toBe(0);
    expect(show(f.push(Buffer.alloc(1000, 0x41)))).toEqual([]);
    // its LRC happens to be STX: it is skipped as the LRC, not taken as a new frame
    expect(show(f.push(b(ETX, STX, frame('ok'))))).toEqual(['ACK', 'F:ok']);
    const g = framer({ maxFrameBytes: 8 });
    expect(show(g.push(b(STX, '12345678', ETX, lrcOf(Buffer.from('12345678')))))).toEqual(['ACK', 'F:12345678']);
  });

  it('resynchronises on an STX while discarding an oversize frame', () => {
    const f = framer({ maxFrameBytes: 8 });
    expect(show(f.push(b(STX, 'x'.repeat(20), frame('ok'))))).toEqual(['NAK', 'ACK', 'F:ok']);
  });

  it('discards a partial frame older than the inter-byte timeout with a NAK', () => {
    const f = framer({ interByteTimeoutMs: 2000 });
    expect(f.push(b(STX, 'ab'), 1000)).toEqual([]);
    // 2000 ms is not more than the timeout: the frame goes on
    expect(show(f.push(b('c', ETX, lrcOf(Buffer.from('abc'))), 3000))).toEqual(['ACK', 'F:abc']);
    expect(f.push(b(STX, 'ab'), 4000)).toEqual([]);
    // the stale partial is NAKed, its late tail is noise, the new frame is good
    expect(show(f.push(b('c', ETX, 0x00, frame('new')), 6001))).toEqual(['NAK', 'ACK', 'F:new']);
    expect(f.push(b(STX, 'ab'), 7000)).toEqual([]);
    expect(show(f.push(Buffer.alloc(0), 9001))).toEqual(['NAK']);
    expect(f.buffered()).toBe(0);
  });

  it('waits for the LRC byte under the same timeout, and never times out with 0', () => {
    const f = framer({ interByteTimeoutMs: 100 });
    f.push(b(STX, 'ab', ETX), 0);
    expect(show(f.push(b(lrcOf(Buffer.from('ab'))), 101))).toEqual(['NAK']);
    const g = framer({ interByteTimeoutMs: 0 });
    g.push(b(STX, 'ab'), 0);
    expect(show(g.push(b(ETX, lrcOf(Buffer.from('ab'))), 10_000_000))).toEqual(['ACK', 'F:ab']);
  });

  it('with ack: false sends no ACK and reports each failure as an error', () => {
    const f = framer({ ack: false, maxFrameBytes: 8 });
    expect(show(f.push(frame('ok')))).toEqual(['F:ok']);
    const bad = f.push(b(STX, 'ok', ETX, 0x00));
    expect(bad).toEqual([{ kind: 'error', code: TbCodes.MALFORMED, message: 'frame failed its LRC check' }]);
    expect(show(f.push(b(STX, '123456789', ETX, 0)))).toEqual([`E:${TbCodes.FRAME_TOO_LARGE}`]);
    expect(show(f.push(b('123456789')))).toEqual([`E:${TbCodes.MALFORMED}`]);
    expect(show(f.push(b(NAK)))).toEqual(['RESEND']);
  });

  it('with lrc: false ends a frame at ETX', () => {
    const f = framer({ lrc: false });
    expect(show(f.push(b(STX, 'ab', ETX, STX, 'cd', ETX)))).toEqual(['ACK', 'F:ab', 'ACK', 'F:cd']);
  });

  it('acknowledges an empty frame without emitting it', () => {
    expect(show(framer().push(b(STX, ETX, ETX)))).toEqual(['ACK']);
  });

  it('what an 8-bit LRC cannot see: a corruption that creates or removes a frame boundary', () => {
    // payload 00 41 (LRC 0x42); its first byte turned into STX restarts the frame at "A", whose LRC is also 0x42
    expect(frame('\x00A').toString('hex')).toBe('0200410342');
    expect(show(framer().push(b(STX, STX, 'A', ETX, 0x42)))).toEqual(['ACK', 'F:A']);
    // "AA" has LRC 0x03; its ETX turned into 0x01 makes the next frame's STX pass as the LRC of "AA\x01"
    expect(show(framer().push(b(STX, 'AA', 0x01, 0x03, frame('q'))))).toEqual(['ACK', 'F:AA\x01']);
  });

  it('refuses to encode a reply holding STX or ETX', () => {
    let caught: unknown;
    try {
      framer().encode(b('a', ETX, 'b'));
    } catch (err) {
      caught = err;
    }
    expect(isTbError(caught, TbCodes.INTERNAL)).toBe(true);
  });

  it('is configured by StxEtxFramingSchema with its defaults', () => {
    const cfg = StxEtxFramingSchema.parse({ type: 'stx-etx' });
    expect(cfg).toEqual({ type: 'stx-etx', lrc: true, ack: true, maxFrameBytes: 4096, interByteTimeoutMs: 2000 });
    const make = makeFramer(cfg);
    const f = make();
    expect(f).toBeInstanceOf(StxEtxFramer);
    expect(make()).not.toBe(f);
    expect(show(f.push(b('x'.repeat(4097))))).toEqual(['NAK']);
    expect(StxEtxFramingSchema.safeParse({ type: 'stx-etx', dle: true }).success).toBe(false);
  });
});

describe('StxEtxFramer behind a real TCP register endpoint', () => {
  let endpoint: RegisterEndpoint | undefined;
  let socket: Socket | undefined;
  afterEach(async () => {
    socket?.destroy();
    await endpoint?.stop();
  });

  it('ACKs, answers, NAKs a corrupt frame, and resends its last reply on NAK', async () => {
    const handled: RegisterMessage[] = [];
    const handler: MessageHandler = {
      handle: (_register: string, m: RegisterMessage): Promise<RegisterReply> => {
        handled.push(m);
        return Promise.resolve({ type: 'ack', id: m.id });
      },
    };
    const log = createLogger({ name: 'test', level: 'silent' });
    const transport = new TcpServerTransport({ host: '127.0.0.1', port: 0, maxConnections: 1, log });
    const cfg = StxEtxFramingSchema.parse({ type: 'stx-etx' });
    endpoint = new RegisterEndpoint('R1', transport, makeFramer(cfg), new JsonlCodec(), handler, log);
    await endpoint.start();

    const received: Buffer[] = [];
    let waiting: (() => void) | undefined;
    let want = 0;
    const s = connect(transport.port()!, '127.0.0.1');
    socket = s;
    s.on('data', (d: Buffer) => {
      received.push(d);
      if (waiting && Buffer.concat(received).length >= want) waiting();
    });
    const readBytes = (n: number) =>
      new Promise<Buffer>((resolve) => {
        const take = () => {
          const all = Buffer.concat(received);
          received.length = 0;
          if (all.length > n) received.push(all.subarray(n));
          waiting = undefined;
          resolve(all.subarray(0, n));
        };
        want = n;
        if (Buffer.concat(received).length >= n) take();
        else waiting = take;
      });
    await new Promise<void>((resolve) => s.once('connect', () => resolve()));

    const msg = JSON.stringify({ type: 'status', id: 'm-1', state: 'ready' });
    s.write(frame(msg));
    const reply = new JsonlCodec().encode([{ type: 'ack', id: 'm-1' }]);
    const expected = Buffer.concat([Buffer.of(ACK), framer().encode(reply)]);
    expect((await readBytes(expected.length)).toString('hex')).toBe(expected.toString('hex'));
    expect(handled.map((m) => m.id)).toEqual(['m-1']);

    s.write(b(STX, msg, ETX, 0x00));
    expect((await readBytes(1)).toString('hex')).toBe('15');

    s.write(Buffer.of(NAK));
    expect((await readBytes(expected.length - 1)).toString('hex')).toBe(framer().encode(reply).toString('hex'));
    expect(handled).toHaveLength(1);
  });
});
