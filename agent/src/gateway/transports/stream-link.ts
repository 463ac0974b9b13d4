import { EventEmitter } from 'node:events';
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
 * The part every byte-stream connection shares: data, backpressure and close listeners, told once
 * when the connection is gone — a listener added after that is told too (on a microtask).
 * Subclasses write, close and call `notifyClosed` when the stream ends.
 */
export abstract class StreamConnection implements Connection {
  private readonly closeListeners: (() => void)[] = [];
  private notified = false;

  constructor(
    readonly id: string,
    readonly remote: string,
    private readonly stream: ByteStream,
  ) {}

  /** True once `notifyClosed` ran. */
  protected get closed(): boolean {
    return this.notified;
  }

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

/** A dialled or opened stream link: a StreamConnection that also says when it was `lost` (for Reconnector). */
export abstract class StreamLink extends StreamConnection implements Link {
  abstract readonly lost: Promise<string>;
}

/** A ByteStream whose chunks are pushed by hand (`emit('data', chunk)`); pause and resume go to the source. */
export class PushedStream extends EventEmitter implements ByteStream {
  constructor(private readonly source: { pause(): unknown; resume(): unknown }) {
    super();
  }
  pause(): void {
    this.source.pause();
  }
  resume(): void {
    this.source.resume();
  }
}
