import type { RegisterReply } from '@tillbridge/shared';

/**
 * The gateway's three layers, each a small interface with its own implementations:
 *   transport (bytes in and out of a register) → framing (where a message starts and ends)
 *   → codec (the register's format ↔ the canonical model).
 */

/** One byte stream to one register (a TCP connection, a serial port, a HID device…). */
export interface Connection {
  readonly id: string;
  readonly remote: string;
  write(data: Buffer): void;
  close(): void;
  /** Stop delivering data until resume() (backpressure while replies are pending). */
  pause(): void;
  resume(): void;
  onData(listener: (chunk: Buffer) => void): void;
  onClose(listener: () => void): void;
}

export interface Transport {
  /** Starts listening / dialing / opening; each new byte stream is handed to `onConnection`. */
  start(onConnection: (conn: Connection) => void): Promise<void>;
  stop(): Promise<void>;
  /** Where this transport is reachable, for logs and status (e.g. "tcp://127.0.0.1:7410"). */
  describe(): string;
}

export type FramerOutput =
  | { kind: 'frame'; payload: Buffer }
  | { kind: 'error'; code: string; message: string };

/** Stateful, one per connection: bytes in, whole frames (or framing errors) out. */
export interface Framer {
  push(chunk: Buffer, nowMs?: number): FramerOutput[];
  /** Wraps a reply payload for the wire. */
  encode(payload: Buffer): Buffer;
  /** Bytes currently held for an incomplete frame (memory stays bounded by the max frame size). */
  buffered(): number;
}

export type DecodeResult =
  | { kind: 'message'; message: unknown }
  | { kind: 'error'; id?: string; code: string; message: string };

/** A register format: frame payload ↔ canonical message object (validated after decoding). */
export interface Codec {
  readonly name: string;
  decode(payload: Buffer): DecodeResult;
  encode(reply: RegisterReply): Buffer;
}

/** What the gateway hands canonical messages to: the store core. */
export interface MessageHandler {
  handle(register: string, message: import('@tillbridge/shared').RegisterMessage): Promise<RegisterReply>;
}
