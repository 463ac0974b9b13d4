import { connect, type Socket } from 'node:net';
import { errorText } from '@tillbridge/shared';
import type { Transport } from '../types.js';
import { ReconnectingTransport, type ReconnectingOptions } from './reconnect.js';
import { StreamLink } from './stream-link.js';
import type { TcpClientTransportConfig } from './schemas.js';

export type TcpClientTransportOptions = Omit<TcpClientTransportConfig, 'type'> & ReconnectingOptions;

function tcpClientUrl({ host, port }: { host: string; port: number }): string {
  return `tcp-client://${host.includes(':') ? `[${host}]` : host}:${port}`;
}

/** Bytes queued for a register that does not read them before the connection is dropped. */
const MAX_UNSENT_BYTES = 1 << 20;
/** After close(), how long the register gets to close its side before the socket is destroyed. */
const CLOSE_GRACE_MS = 500;

/** One dialled connection: the Connection the gateway uses and the Link the reconnect loop watches. */
class TcpClientLink extends StreamLink {
  readonly lost: Promise<string>;
  private failure: string | undefined;
  private closing = false;

  constructor(
    private readonly socket: Socket,
    seq: number,
    remote: string,
  ) {
    super(`tcp-client-${seq}`, remote, socket);
    this.lost = new Promise((resolve) => {
      socket.once('close', () =>
        resolve(this.failure ?? (this.closing ? 'closed by the agent' : 'the register closed the connection')),
      );
    });
    socket.on('error', (err) => (this.failure ??= `connection lost (${errorText(err)})`));
  }

  write(data: Buffer): void {
    if (this.closing || this.socket.destroyed) return;
    if (this.socket.writableLength > MAX_UNSENT_BYTES) {
      this.failure = `the register is not reading (over ${MAX_UNSENT_BYTES} bytes unsent); connection dropped`;
      this.socket.destroy();
      return;
    }
    this.socket.write(data);
  }

  close(): void {
    if (this.closing) return;
    this.closing = true;
    this.socket.end();
    setTimeout(() => this.socket.destroy(), CLOSE_GRACE_MS).unref();
  }
}

/**
 * The agent dials a register that listens on the store LAN. One Connection per successful dial;
 * refusal, timeout or loss is `disconnected` (with the reason) and the agent dials again with
 * full-jitter backoff until stop(). TCP keepalive (first probe after keepAliveMs idle) notices a
 * register that vanished without closing; Nagle is off so replies leave at once.
 */
export class TcpClientTransport extends ReconnectingTransport<TcpClientLink> implements Transport {
  private seq = 0;

  constructor(private readonly opts: TcpClientTransportOptions) {
    const at = tcpClientUrl(opts);
    super(opts, { kind: 'tcp-client', where: at, logFields: { at } });
  }

  describe(): string {
    return tcpClientUrl(this.opts);
  }

  protected describeError(err: unknown): string {
    return `cannot connect to ${this.describe()}: ${errorText(err)}`;
  }

  protected open(signal: AbortSignal): Promise<TcpClientLink> {
    const { host, port, connectTimeoutMs, keepAliveMs } = this.opts;
    return new Promise((resolve, reject) => {
      const socket = connect({ host, port, noDelay: true, keepAlive: true, keepAliveInitialDelay: keepAliveMs });
      const fail = (err: Error): void => {
        cleanup();
        socket.on('error', () => undefined); // whatever else it says, this attempt is over
        socket.destroy();
        reject(err);
      };
      const onError = (err: Error): void => fail(err);
      const onAbort = (): void => fail(new Error('stopped'));
      const timer = setTimeout(() => fail(new Error(`no answer within ${connectTimeoutMs} ms`)), connectTimeoutMs);
      const cleanup = (): void => {
        clearTimeout(timer);
        socket.off('error', onError);
        signal.removeEventListener('abort', onAbort);
      };
      socket.once('error', onError);
      signal.addEventListener('abort', onAbort, { once: true });
      socket.once('connect', () => {
        cleanup();
        socket.setNoDelay(true);
        socket.setKeepAlive(true, keepAliveMs);
        resolve(new TcpClientLink(socket, ++this.seq, `${socket.remoteAddress}:${socket.remotePort}`));
      });
    });
  }
}
