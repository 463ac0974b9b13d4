import { createServer, type Server, type Socket } from 'node:net';
import type { Logger } from '@tillbridge/shared';
import type { Connection, Transport } from '../types.js';
import { listenError } from '@tillbridge/shared';
import { StreamConnection } from './stream-link.js';

export interface TcpServerOptions {
  host: string;
  port: number;
  maxConnections: number;
  /** Idle connections are closed after this long without a byte (0: never). */
  idleTimeoutMs?: number;
  log: Logger;
}

class TcpConnection extends StreamConnection {
  constructor(
    private readonly socket: Socket,
    seq: number,
  ) {
    super(`tcp-${seq}`, `${socket.remoteAddress}:${socket.remotePort}`, socket);
    socket.setNoDelay(true);
    socket.on('close', () => this.notifyClosed());
  }

  write(data: Buffer): void {
    if (!this.socket.destroyed) this.socket.write(data);
  }
  close(): void {
    this.socket.end();
    setTimeout(() => this.socket.destroy(), 1000).unref();
  }
}

/** The agent listens; registers on the store LAN connect to it. */
export class TcpServerTransport implements Transport {
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  private seq = 0;
  private bound: { host: string; port: number } | undefined;

  constructor(private readonly opts: TcpServerOptions) {}

  describe(): string {
    const a = this.bound ?? { host: this.opts.host, port: this.opts.port };
    return `tcp://${a.host}:${a.port}`;
  }

  port(): number | undefined {
    return this.bound?.port;
  }

  start(onConnection: (conn: Connection) => void): Promise<void> {
    const server = createServer((socket) => {
      if (this.sockets.size >= this.opts.maxConnections) {
        this.opts.log.warn(
          { remote: socket.remoteAddress },
          `refused a connection: already ${this.opts.maxConnections} open`,
        );
        socket.destroy();
        return;
      }
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
      socket.on('error', (err) => this.opts.log.debug({ err }, 'register socket error'));
      if (this.opts.idleTimeoutMs) {
        socket.setTimeout(this.opts.idleTimeoutMs, () => socket.destroy());
      }
      onConnection(new TcpConnection(socket, ++this.seq));
    });
    this.server = server;
    return new Promise((resolve, reject) => {
      const failed = (err: Error): void => {
        this.server = undefined;
        reject(listenError(err, this.opts.host, this.opts.port));
      };
      server.once('error', failed);
      server.listen(this.opts.port, this.opts.host, () => {
        server.off('error', failed);
        const addr = server.address();
        if (addr && typeof addr === 'object') this.bound = { host: addr.address, port: addr.port };
        resolve();
      });
    });
  }

  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    for (const s of this.sockets) s.end();
    await new Promise<void>((resolve) => {
      const t = setTimeout(() => {
        for (const s of this.sockets) s.destroy();
      }, 500);
      server.close(() => {
        clearTimeout(t);
        resolve();
      });
    });
  }
}
