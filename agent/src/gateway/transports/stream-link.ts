import type { Connection } from '../types.js';
import type { Link } from './reconnect.js';

/** What a link needs of its byte stream (a net.Socket, a SerialPort). */
export interface ByteStream {
  pause(): unknown;
  resume(): unknown;
  on(event: 'data', listener: (chunk: Buffer) => void): unknown;
  removeAllListeners(event: 'data'): unknown;
}

/**
 * The part every dialled or opened stream link shares: data, backpressure and close listeners,
 * told once when the link is gone. Subclasses write, close and say when the link was `lost`.
 */
export abstract class StreamLink implements Connection, Link {
  abstract readonly lost: Promise<string>;
  private readonly closeListeners: (() => void)[] = [];
  private notified = false;

  constructor(
    readonly id: string,
    readonly remote: string,
    private readonly stream: ByteStream,
  ) {}

  abstract write(data: Buffer): void;
  abstract close(): void;

  pause(): void {
    this.stream.pause();
  }
  resume(): void {
    this.stream.resume();
  }
  onData(listener: (chunk: Buffer) => void): void {
    this.stream.on('data', listener);
  }
  onClose(listener: () => void): void {
    if (this.notified) queueMicrotask(listener);
    else this.closeListeners.push(listener);
  }

  notifyClosed(): void {
    if (this.notified) return;
    this.notified = true;
    this.stream.removeAllListeners('data');
    for (const l of this.closeListeners.splice(0)) l();
  }
}
