import * as z from 'zod';
import type { Framer } from '../types.js';
import { LengthPrefixedFramer } from './length-prefixed.js';
import { LineFramer } from './line.js';
import { MessageFramer, MessageFramingSchema } from './message.js';
import { StxEtxFramer } from './stx-etx.js';

/** Config schemas for every framing (`registers[].framing`), and the factory that builds them. */

const MaxFrameBytes = (def: number) =>
  z
    .number()
    .int('a whole number of bytes')
    .min(16, 'a maxFrameBytes of at least 16')
    .max(1_048_576, 'a maxFrameBytes of at most 1048576 (1 MiB)')
    .default(def);

const InterByteTimeoutMs = (def: number) =>
  z
    .number()
    .int('a whole number of milliseconds')
    .min(0, 'a timeout of 0 (never) or more milliseconds')
    .max(600_000, 'a timeout of at most 600000 ms')
    .default(def);

export const LineFramingSchema = z.strictObject({
  type: z.literal('line'),
  /** The terminator as a string; "\n" (default) or "\r\n". */
  terminator: z
    .string()
    .min(1, 'a terminator of 1 to 4 characters, e.g. "\\n" or "\\r\\n"')
    .max(4, 'a terminator of 1 to 4 characters, e.g. "\\n" or "\\r\\n"')
    .default('\n'),
  maxFrameBytes: MaxFrameBytes(65_536),
  /** Bytes of a partial frame older than this are discarded (0: never). */
  interByteTimeoutMs: InterByteTimeoutMs(0),
});

export const StxEtxFramingSchema = z.strictObject({
  type: z.literal('stx-etx'),
  /** An LRC byte follows ETX: XOR of every byte after STX up to and including ETX. */
  lrc: z.boolean().default(true),
  /** ACK each good frame and NAK each bad one (false: bad frames get an error reply). */
  ack: z.boolean().default(true),
  maxFrameBytes: MaxFrameBytes(4096),
  /** A partial frame older than this when more bytes arrive is discarded with a NAK (0: never). */
  interByteTimeoutMs: InterByteTimeoutMs(2000),
});

export const LengthPrefixedFramingSchema = z.strictObject({
  type: z.literal('length-prefixed'),
  /** Size of the big-endian unsigned length before each payload. */
  bytes: z.literal([2, 4], 'a length prefix of 2 or 4 bytes').default(2),
  maxFrameBytes: MaxFrameBytes(65_536),
  /** A partial frame older than this when more bytes arrive is discarded with an error (0: never). */
  interByteTimeoutMs: InterByteTimeoutMs(5000),
});

export const FramingSchema = z.discriminatedUnion(
  'type',
  [LineFramingSchema, StxEtxFramingSchema, LengthPrefixedFramingSchema, MessageFramingSchema],
  {
    error: 'a framing type: "line", "stx-etx", "length-prefixed" or "message"',
  },
);
export type FramingConfig = z.infer<typeof FramingSchema>;

/** What a register without a `framing` key gets: JSON lines ending in "\n", 64 KiB at most. */
export const DEFAULT_FRAMING: Readonly<FramingConfig> = Object.freeze(FramingSchema.parse({ type: 'line' }));

/** A factory making one framer per connection (framers are stateful). */
export function makeFramer(config: FramingConfig): () => Framer {
  switch (config.type) {
    case 'line': {
      const { terminator, maxFrameBytes, interByteTimeoutMs } = config;
      return () => new LineFramer({ terminator, maxFrameBytes, interByteTimeoutMs });
    }
    case 'stx-etx': {
      const { lrc, ack, maxFrameBytes, interByteTimeoutMs } = config;
      return () => new StxEtxFramer({ lrc, ack, maxFrameBytes, interByteTimeoutMs });
    }
    case 'length-prefixed': {
      const { bytes, maxFrameBytes, interByteTimeoutMs } = config;
      return () => new LengthPrefixedFramer({ bytes, maxFrameBytes, interByteTimeoutMs });
    }
    case 'message': {
      const { maxFrameBytes } = config;
      return () => new MessageFramer({ maxFrameBytes });
    }
  }
}
