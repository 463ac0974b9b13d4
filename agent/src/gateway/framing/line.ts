import { TbCodes } from '@tillbridge/shared';
import type { Framer, FramerOutput } from '../types.js';

export interface LineFramerOptions {
  terminator: string;
  maxFrameBytes: number;
  /** A partial frame older than this when more bytes arrive is discarded (0: never). */
  interByteTimeoutMs: number;
}

/**
 * Frames end with a terminator ("\n" by default; with "\n", a "\r" before it is dropped too).
 * A frame longer than maxFrameBytes is discarded up to its terminator with one error, so memory
 * never grows past the limit whatever a register sends. Empty lines are ignored.
 */
export class LineFramer implements Framer {
  private readonly term: Buffer;
  private held: Buffer = Buffer.alloc(0);
  private discarding = false;
  private lastByteMs = 0;

  constructor(private readonly opts: LineFramerOptions) {
    this.term = Buffer.from(opts.terminator, 'utf8');
    if (this.term.length === 0) throw new Error('line framing needs a terminator');
  }

  buffered(): number {
    return this.held.length;
  }

  encode(payload: Buffer): Buffer {
    return Buffer.concat([payload, this.term]);
  }

  push(chunk: Buffer, nowMs = Date.now()): FramerOutput[] {
    const out: FramerOutput[] = [];
    if (
      this.opts.interByteTimeoutMs > 0 &&
      this.held.length > 0 &&
      nowMs - this.lastByteMs > this.opts.interByteTimeoutMs
    ) {
      const hadFrame = !this.discarding;
      this.held = Buffer.alloc(0);
      this.discarding = false;
      if (hadFrame)
        out.push({
          kind: 'error',
          code: TbCodes.MALFORMED,
          message: `incomplete frame discarded after ${this.opts.interByteTimeoutMs} ms of silence`,
        });
    }
    if (chunk.length === 0) return out;
    this.lastByteMs = nowMs;

    const searchFrom = Math.max(0, this.held.length - this.term.length + 1);
    const data = this.held.length === 0 ? chunk : Buffer.concat([this.held, chunk]);
    let start = 0;
    let idx = data.indexOf(this.term, searchFrom);
    while (idx !== -1) {
      if (this.discarding) this.discarding = false;
      else this.emit(data.subarray(start, idx), out);
      start = idx + this.term.length;
      idx = data.indexOf(this.term, start);
    }
    let rest = data.subarray(start);
    if (this.discarding) {
      // keep only what could be the start of a split terminator
      rest = rest.subarray(Math.max(0, rest.length - (this.term.length - 1)));
    } else if (rest.length > this.opts.maxFrameBytes + this.term.length) {
      // (the held bytes may end with the first part of a split terminator, or a CR the emit drops)
      this.discarding = true;
      out.push({
        kind: 'error',
        code: TbCodes.FRAME_TOO_LARGE,
        message: `frame longer than ${this.opts.maxFrameBytes} bytes discarded`,
      });
      rest = rest.subarray(Math.max(0, rest.length - (this.term.length - 1)));
    }
    this.held = Buffer.from(rest);
    return out;
  }

  private emit(payload: Buffer, out: FramerOutput[]): void {
    if (this.opts.terminator === '\n' && payload.length > 0 && payload[payload.length - 1] === 0x0d)
      payload = payload.subarray(0, -1);
    if (payload.length === 0) return;
    if (payload.length > this.opts.maxFrameBytes) {
      out.push({
        kind: 'error',
        code: TbCodes.FRAME_TOO_LARGE,
        message: `frame longer than ${this.opts.maxFrameBytes} bytes discarded`,
      });
      return;
    }
    out.push({ kind: 'frame', payload: Buffer.from(payload) });
  }
}
