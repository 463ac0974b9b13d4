import * as z from 'zod';
import { TbCodes } from '@tillbridge/shared';
import type { Framer, FramerOutput } from '../types.js';

const BYTES = 'a whole number of bytes from 16 to 1048576';

/** Config of the `message` framing (for message-oriented transports: `http`, WebSocket). */
export const MessageFramingSchema = z.strictObject({
  type: z.literal('message'),
  /** The largest message accepted, in bytes. */
  maxFrameBytes: z.number().int(BYTES).min(16, BYTES).max(1_048_576, BYTES).default(65_536),
});
export type MessageFramingConfig = z.infer<typeof MessageFramingSchema>;

export interface MessageFramerOptions {
  maxFrameBytes: number;
}

/**
 * For transports that already deliver whole messages (an HTTP body, a WebSocket message):
 * every chunk pushed is exactly one frame, and `encode` is the identity. A chunk over
 * maxFrameBytes is refused with one error and not kept; an empty chunk is ignored. Nothing is
 * ever held between pushes, so `buffered()` is always 0.
 */
export class MessageFramer implements Framer {
  constructor(private readonly opts: MessageFramerOptions) {
    if (!Number.isInteger(opts.maxFrameBytes) || opts.maxFrameBytes < 1)
      throw new Error('message framing needs a positive maxFrameBytes');
  }

  buffered(): number {
    return 0;
  }

  encode(payload: Buffer): Buffer {
    return payload;
  }

  push(chunk: Buffer): FramerOutput[] {
    if (chunk.length === 0) return [];
    if (chunk.length > this.opts.maxFrameBytes) {
      return [
        {
          kind: 'error',
          code: TbCodes.FRAME_TOO_LARGE,
          message: `message longer than ${this.opts.maxFrameBytes} bytes discarded`,
        },
      ];
    }
    return [{ kind: 'frame', payload: Buffer.from(chunk) }];
  }
}
