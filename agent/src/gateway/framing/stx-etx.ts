import { TbCodes, TbError } from '@tillbridge/shared';
import type { Framer, FramerOutput } from '../types.js';

/** The ASCII control characters of the STX/ETX convention. */
export const ControlChars = { STX: 0x02, ETX: 0x03, ACK: 0x06, NAK: 0x15 } as const;
export type ControlCharName = keyof typeof ControlChars;

/** One control character as a fresh one-byte buffer (safe to hand to a connection's write). */
export function controlChar(name: ControlCharName): Buffer {
  return Buffer.of(ControlChars[name]);
}

const { STX, ETX, ACK, NAK } = ControlChars;

/**
 * The LRC most ECRs use: the XOR of every byte after STX up to and including ETX
 * (so the payload's bytes and ETX; STX is not part of it).
 */
export function lrcOf(payload: Buffer): number {
  let x = ETX;
  for (const b of payload) x ^= b;
  return x;
}

export interface StxEtxFramerOptions {
  /** Each frame ends with an LRC byte after ETX (see lrcOf). */
  lrc: boolean;
  /** Answer each good frame with ACK and each bad one with NAK; otherwise report errors as error replies. */
  ack: boolean;
  /** Most payload bytes between STX and ETX. */
  maxFrameBytes: number;
  /** A partial frame older than this when more bytes arrive is discarded (0: never). */
  interByteTimeoutMs: number;
}

type State = 'idle' | 'data' | 'lrc' | 'skip' | 'skipLrc';

/**
 * Frames are `STX payload ETX [LRC]`, the framing of most legacy ECRs (no DLE escaping: the
 * payload never holds STX or ETX; the LRC byte may be any value).
 *
 * - A good frame gives a `control` ACK (link level only: the frame arrived intact; the register's
 *   `ack` reply still comes after the message is durable) and then the `frame`. An empty frame is
 *   acknowledged and otherwise ignored.
 * - A frame failing its LRC gives one NAK with a note for the log, nothing else; the register sends
 *   it again. A retransmitted frame is simply emitted again: the codec derives the same message id
 *   from it, so the core answers it again without a second effect.
 * - Outside a frame, a bare ACK from the register is ignored and a bare NAK gives `resend` (the
 *   endpoint sends our last reply again). Any other byte is noise and skipped.
 * - An STX inside a frame starts a new frame (resynchronising after a lost ETX); the cut-short
 *   bytes count as noise. Noise (bytes belonging to no complete frame) is bounded: more than
 *   maxFrameBytes of it since the last complete frame gives one NAK.
 * - A frame longer than maxFrameBytes gives one NAK and is discarded up to its ETX (and LRC).
 * - A partial frame older than interByteTimeoutMs when the next bytes arrive gives one NAK.
 * With `ack: false` no ACK is sent and each NAK above is an `error` output instead.
 * Memory stays bounded by maxFrameBytes whatever arrives.
 */
export class StxEtxFramer implements Framer {
  private state: State = 'idle';
  private parts: Buffer[] = [];
  private partLen = 0;
  private lrcAcc = 0;
  private noise = 0;
  private noiseReported = false;
  private lastByteMs = 0;

  constructor(private readonly opts: StxEtxFramerOptions) {}

  buffered(): number {
    return this.partLen;
  }

  /** Wraps a reply as `STX payload ETX [LRC]`; the payload must not hold STX or ETX. */
  encode(payload: Buffer): Buffer {
    if (payload.includes(STX) || payload.includes(ETX)) {
      throw new TbError(TbCodes.INTERNAL, 'a reply for STX/ETX framing must not contain STX (0x02) or ETX (0x03)');
    }
    const tail = this.opts.lrc ? Buffer.of(ETX, lrcOf(payload)) : Buffer.of(ETX);
    return Buffer.concat([Buffer.of(STX), payload, tail]);
  }

  push(chunk: Buffer, nowMs = Date.now()): FramerOutput[] {
    const out: FramerOutput[] = [];
    const timeout = this.opts.interByteTimeoutMs;
    if (timeout > 0 && (this.state !== 'idle' || this.noise > 0) && nowMs - this.lastByteMs > timeout) {
      if (this.state === 'data' || this.state === 'lrc')
        this.fail(out, TbCodes.MALFORMED, `incomplete frame discarded after ${timeout} ms of silence`);
      this.reset();
    }
    if (chunk.length === 0) return out;
    this.lastByteMs = nowMs;

    let i = 0;
    while (i < chunk.length) {
      const b = chunk.readUInt8(i);
      switch (this.state) {
        case 'idle':
          if (b === STX) this.begin();
          else if (b === NAK) out.push({ kind: 'resend' });
          else if (b !== ACK) this.addNoise(1, out);
          i++;
          break;
        case 'data': {
          let j = i;
          while (j < chunk.length && chunk[j] !== STX && chunk[j] !== ETX) j++;
          if (j > i) this.take(chunk.subarray(i, j), out);
          i = j;
          // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- take() may leave the frame
          if (i === chunk.length || this.state !== 'data') break;
          if (chunk[i] === STX) {
            this.addNoise(this.partLen + 1, out);
            this.begin();
          } else {
            this.lrcAcc ^= ETX;
            if (this.opts.lrc) this.state = 'lrc';
            else this.complete(out, true);
          }
          i++;
          break;
        }
        case 'lrc':
          this.complete(out, b === this.lrcAcc);
          i++;
          break;
        case 'skip':
          if (b === ETX) this.state = this.opts.lrc ? 'skipLrc' : 'idle';
          else if (b === STX) this.begin();
          i++;
          break;
        case 'skipLrc':
          this.state = 'idle';
          i++;
          break;
      }
    }
    return out;
  }

  private begin(): void {
    this.state = 'data';
    this.parts = [];
    this.partLen = 0;
    this.lrcAcc = 0;
  }

  private reset(): void {
    this.state = 'idle';
    this.parts = [];
    this.partLen = 0;
    this.noise = 0;
    this.noiseReported = false;
  }

  private take(seg: Buffer, out: FramerOutput[]): void {
    if (this.partLen + seg.length > this.opts.maxFrameBytes) {
      this.fail(out, TbCodes.FRAME_TOO_LARGE, `frame longer than ${this.opts.maxFrameBytes} bytes discarded`);
      this.parts = [];
      this.partLen = 0;
      this.state = 'skip';
      return;
    }
    for (const b of seg) this.lrcAcc ^= b;
    this.parts.push(Buffer.from(seg));
    this.partLen += seg.length;
  }

  private addNoise(n: number, out: FramerOutput[]): void {
    this.noise += n;
    if (this.noise > this.opts.maxFrameBytes && !this.noiseReported) {
      this.noiseReported = true;
      this.fail(out, TbCodes.MALFORMED, `more than ${this.opts.maxFrameBytes} bytes arrived outside any frame`);
    }
  }

  private complete(out: FramerOutput[], good: boolean): void {
    const payload = Buffer.concat(this.parts, this.partLen);
    this.reset();
    if (!good) {
      this.fail(out, TbCodes.MALFORMED, 'frame failed its LRC check');
      return;
    }
    if (this.opts.ack) out.push({ kind: 'control', bytes: controlChar('ACK') });
    if (payload.length > 0) out.push({ kind: 'frame', payload });
  }

  private fail(out: FramerOutput[], code: string, message: string): void {
    if (this.opts.ack) out.push({ kind: 'control', bytes: controlChar('NAK'), note: `${message}; NAK sent (${code})` });
    else out.push({ kind: 'error', code, message });
  }
}
