import { TbCodes, TbError } from '@tillbridge/shared';
import type { Framer, FramerOutput } from '../types.js';

export interface LengthPrefixedFramerOptions {
  /** Size of the big-endian unsigned length before each payload. */
  bytes: 2 | 4;
  /** Most payload bytes one frame may declare. */
  maxFrameBytes: number;
  /** A partial frame older than this when more bytes arrive is discarded (0: never). */
  interByteTimeoutMs: number;
}

type State = 'header' | 'body' | 'skip';

/**
 * Frames are a big-endian unsigned length (2 or 4 bytes) followed by that many payload bytes.
 * A zero length is an empty frame and is ignored. A declared length over maxFrameBytes gives one
 * FRAME_TOO_LARGE error, and the framer resynchronises by discarding exactly the declared number
 * of bytes as they arrive, never holding them, so memory stays bounded by maxFrameBytes.
 * A partial frame (header or body) older than interByteTimeoutMs when more bytes arrive gives one
 * error and the framer starts over at a header.
 */
export class LengthPrefixedFramer implements Framer {
  private state: State = 'header';
  private readonly header = Buffer.alloc(4);
  private headerLen = 0;
  private parts: Buffer[] = [];
  private partLen = 0;
  private need = 0;
  private skipLeft = 0;
  private lastByteMs = 0;

  constructor(private readonly opts: LengthPrefixedFramerOptions) {}

  buffered(): number {
    return this.headerLen + this.partLen;
  }

  encode(payload: Buffer): Buffer {
    const limit = this.opts.bytes === 2 ? 0xffff : 0xffff_ffff;
    if (payload.length > limit) {
      throw new TbError(
        TbCodes.FRAME_TOO_LARGE,
        `a reply longer than ${limit} bytes cannot be sent with a ${this.opts.bytes}-byte length`,
      );
    }
    const prefix = Buffer.alloc(this.opts.bytes);
    prefix.writeUIntBE(payload.length, 0, this.opts.bytes);
    return Buffer.concat([prefix, payload]);
  }

  push(chunk: Buffer, nowMs = Date.now()): FramerOutput[] {
    const out: FramerOutput[] = [];
    const timeout = this.opts.interByteTimeoutMs;
    if (timeout > 0 && (this.state !== 'header' || this.headerLen > 0) && nowMs - this.lastByteMs > timeout) {
      if (this.state !== 'skip')
        out.push({
          kind: 'error',
          code: TbCodes.MALFORMED,
          message: `incomplete frame discarded after ${timeout} ms of silence`,
        });
      this.reset();
    }
    if (chunk.length === 0) return out;
    this.lastByteMs = nowMs;

    let i = 0;
    while (i < chunk.length) {
      const avail = chunk.length - i;
      if (this.state === 'header') {
        const n = Math.min(this.opts.bytes - this.headerLen, avail);
        chunk.copy(this.header, this.headerLen, i, i + n);
        this.headerLen += n;
        i += n;
        if (this.headerLen === this.opts.bytes) this.startFrame(this.header.readUIntBE(0, this.opts.bytes), out);
      } else if (this.state === 'body') {
        const n = Math.min(this.need - this.partLen, avail);
        this.parts.push(Buffer.from(chunk.subarray(i, i + n)));
        this.partLen += n;
        i += n;
        if (this.partLen === this.need) {
          out.push({ kind: 'frame', payload: Buffer.concat(this.parts, this.partLen) });
          this.reset();
        }
      } else {
        const n = Math.min(this.skipLeft, avail);
        this.skipLeft -= n;
        i += n;
        if (this.skipLeft === 0) this.reset();
      }
    }
    return out;
  }

  private startFrame(length: number, out: FramerOutput[]): void {
    this.headerLen = 0;
    if (length === 0) return;
    if (length > this.opts.maxFrameBytes) {
      out.push({
        kind: 'error',
        code: TbCodes.FRAME_TOO_LARGE,
        message: `frame longer than ${this.opts.maxFrameBytes} bytes discarded`,
      });
      this.state = 'skip';
      this.skipLeft = length;
      return;
    }
    this.state = 'body';
    this.need = length;
  }

  private reset(): void {
    this.state = 'header';
    this.headerLen = 0;
    this.parts = [];
    this.partLen = 0;
    this.need = 0;
    this.skipLeft = 0;
  }
}
