import type { RegisterReply } from '@tillbridge/shared';
import type { LinkState } from '../core/ports.js';

export type { LinkState, MessageHandler } from '../core/ports.js';

/**
 * The gateway's three layers, each a small interface with its own implementations:
 *   transport (bytes in and out of a register) → framing (where a message starts and ends)
 *   → codec (the register's format ↔ the canonical model).
 */

/** One byte stream to one register (a TCP connection, a serial port, a HID device…). */
export interface Connection {
  readonly id: string;
  readonly remote: string;
  /** One request, one reply (an HTTP POST): not worth an info log line each. */
  readonly transient?: boolean;
  write(data: Buffer): void;
  close(): void;
  /** Stop delivering data until resume() (backpressure while replies are pending). */
  pause(): void;
  resume(): void;
  onData(listener: (chunk: Buffer) => void): void;
  onClose(listener: () => void): void;
}

export interface Transport {
  /**
   * Starts listening / dialing / opening; each new byte stream is handed to `onConnection`.
   * A transport that opens a device or dials out keeps retrying with backoff on its own (a
   * missing port is `disconnected`, not a failure of start) until `stop`.
   */
  start(onConnection: (conn: Connection) => void): Promise<void>;
  stop(): Promise<void>;
  /** Where this transport is reachable, for logs and status (e.g. "tcp://127.0.0.1:7410"). */
  describe(): string;
  /** Transports that open a device or dial out report state changes (with a reason) here. */
  onState?(listener: (state: LinkState, detail?: string) => void): void;
}

export type FramerOutput =
  /** A whole frame's payload, for the codec. */
  | { kind: 'frame'; payload: Buffer }
  /** Garbage or an oversize frame was discarded: answer with an error reply (the codec encodes it). */
  | { kind: 'error'; code: string; message: string }
  /** Bytes to write to the register at once, outside any frame (ACK, NAK). */
  | { kind: 'control'; bytes: Buffer; note?: string }
  /** The register refused our last frame (NAK): send it again. */
  | { kind: 'resend' };

/** Stateful, one per connection: bytes in, whole frames (or framing errors) out. */
export interface Framer {
  push(chunk: Buffer, nowMs?: number): FramerOutput[];
  /** Wraps a reply payload for the wire. */
  encode(payload: Buffer): Buffer;
  /** Bytes currently held for an incomplete frame (memory stays bounded by the max frame size). */
  buffered(): number;
}

export type DecodeResult =
  /**
   * Canonical-shaped message objects (validated by the gateway afterwards), usually one; a
   * POSLog document may hold several transactions. Every message must carry an `id`: a codec
   * whose format has none derives one from the frame, so a retransmitted frame is the same id.
   * `context` is handed back to `encode` with the replies (e.g. fields a legacy reply echoes).
   */
  | { kind: 'messages'; messages: unknown[]; context?: unknown }
  | { kind: 'error'; id?: string; code: string; message: string };

/** A register format: frame payload ↔ canonical message objects. */
export interface Codec {
  readonly name: string;
  decode(payload: Buffer): DecodeResult;
  /**
   * One frame answering every message decoded from one request frame, in the same order (or a
   * single error reply when the frame could not be decoded, or an unsolicited message such as a
   * scanned receipt, both without context).
   */
  encode(replies: RegisterReply[], context?: unknown): Buffer;
}
