import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import { answerRefusalsInHouseStyle, refuseOnSocket, TbCodes, TbError, type Logger } from '@tillbridge/shared';
import type { Connection, Transport } from '../types.js';
import type { HttpTransportConfig } from './http-schemas.js';
import { PushedStream, StreamConnection } from './stream-link.js';
import { listenError } from '@tillbridge/shared';

/**
 * The `http` transport, for POS software on the store LAN:
 *   POST /v1/registers/<id>/messages   body = one message in the register's codec; the reply is
 *                                      the response body (200, `contentType`)
 *   GET  same path + WebSocket upgrade a connection that stays open: one WS message per frame,
 *                                      one WS message per reply (text unless the register sent binary)
 * Use it with the `message` framing. Several registers may share one host:port: each names its
 * own id in the path, and the id alone picks the register — there is no authentication of the
 * caller, so keep the listener on loopback or the store LAN.
 */
export interface HttpTransportOptions extends Omit<HttpTransportConfig, 'type'> {
  /** The register id served at /v1/registers/<register>/messages. */
  register: string;
  log: Logger;
}

const PATH = /^\/v1\/registers\/([A-Za-z0-9][A-Za-z0-9._-]{0,63})\/messages\/?$/;
/** Open sockets one shared listener accepts (bounds memory: each may hold one body). */
const MAX_SOCKETS = 256;

interface Route {
  request(req: IncomingMessage, res: ServerResponse): void;
  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void;
}

function registerOf(url: string | undefined): string | undefined {
  const path = (url ?? '').split('?', 1)[0] ?? '';
  return PATH.exec(path)?.[1];
}

function errorBody(code: string, message: string): Buffer {
  return Buffer.from(JSON.stringify({ code, message }), 'utf8');
}

function sendError(res: ServerResponse, status: number, code: string, message: string, close = false): void {
  if (res.headersSent) return;
  const body = errorBody(code, message);
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': body.length,
    ...(close ? { connection: 'close' } : {}),
  });
  res.end(body);
}

/** One http.Server per host:port, shared by every HttpTransport naming that address. */
class SharedServer {
  readonly routes = new Map<string, Route>();
  readonly server: Server;
  refs = 0;
  ready: Promise<void>;
  port = 0;

  constructor(
    readonly host: string,
    wanted: number,
    log: Logger,
  ) {
    // a register's HTTP client may leave out Host (only the path names the register): served, not refused
    this.server = createServer({ requireHostHeader: false }, (req, res) => {
      const route = this.routes.get(registerOf(req.url) ?? '');
      if (route) {
        route.request(req, res);
        return;
      }
      sendError(
        res,
        404,
        TbCodes.NOT_FOUND,
        'no register is configured at this path (POST /v1/registers/<id>/messages)',
        true,
      );
    });
    this.server.maxConnections = MAX_SOCKETS;
    this.server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      socket.on('error', (err) => log.debug({ err }, 'register upgrade socket error'));
      const route = this.routes.get(registerOf(req.url) ?? '');
      if (route) {
        route.upgrade(req, socket, head);
        return;
      }
      refuseOnSocket(socket, 404, {
        json: { code: TbCodes.NOT_FOUND, message: 'no register is configured at this path' },
      });
    });
    answerRefusalsInHouseStyle(this.server, { wrongMethod: TbCodes.INVALID });
    this.ready = new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(wanted, host, () => {
        this.server.off('error', reject);
        const addr = this.server.address();
        this.port = addr && typeof addr === 'object' ? addr.port : wanted;
        resolve();
      });
    });
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }
}

const servers = new Map<string, SharedServer>();

async function acquire(host: string, port: number, register: string, route: Route, log: Logger): Promise<SharedServer> {
  let shared = port === 0 ? undefined : servers.get(`${host}:${port}`);
  if (!shared) {
    const created = new SharedServer(host, port, log);
    if (port !== 0) servers.set(`${host}:${port}`, created);
    shared = created;
    created.ready.then(
      () => servers.set(`${host}:${created.port}`, created),
      () => servers.delete(`${host}:${port}`),
    );
  }
  shared.refs++;
  try {
    await shared.ready;
  } catch (err) {
    shared.refs--;
    throw listenError(err, host, port);
  }
  if (shared.routes.has(register)) {
    await release(shared, undefined);
    throw new TbError(TbCodes.CONFIG, `register ${register} is served twice on http://${host}:${shared.port}`);
  }
  shared.routes.set(register, route);
  return shared;
}

async function release(shared: SharedServer, register: string | undefined): Promise<void> {
  if (register !== undefined) shared.routes.delete(register);
  if (--shared.refs > 0) return;
  if (servers.get(`${shared.host}:${shared.port}`) === shared) servers.delete(`${shared.host}:${shared.port}`);
  await shared.close();
}

function remoteOf(req: IncomingMessage): string {
  return `${req.socket.remoteAddress ?? '?'}:${req.socket.remotePort ?? 0}`;
}

/** One POST: onData delivers the body once; the first write is the response; then it closes. */
class PostConnection implements Connection {
  readonly transient = true;
  private readonly listeners: ((chunk: Buffer) => void)[] = [];
  private body: Buffer | undefined;

  constructor(
    readonly id: string,
    readonly remote: string,
    private readonly res: ServerResponse,
    private readonly contentType: string,
  ) {}

  get answered(): boolean {
    return this.res.headersSent || this.res.writableEnded;
  }
  write(data: Buffer): void {
    if (this.answered) return;
    this.res.writeHead(200, { 'content-type': this.contentType, 'content-length': data.length });
    this.res.end(data);
  }
  close(): void {
    sendError(this.res, 503, TbCodes.INTERNAL, 'the agent closed the request before answering; send the message again');
  }
  pause(): void {
    // a request's body is read whole before it is handed on: nothing to hold back
  }
  resume(): void {
    // nothing was held back (see pause)
  }
  onData(listener: (chunk: Buffer) => void): void {
    this.listeners.push(listener);
    if (this.body) listener(this.body);
  }
  onClose(listener: () => void): void {
    this.res.on('close', listener);
  }
  deliver(body: Buffer): void {
    this.body = body;
    for (const l of this.listeners) l(body);
  }
}

/** A WebSocket's messages as a ByteStream: each message is one 'data' chunk; notes whether the last was binary. */
class WsMessages extends PushedStream {
  binary = false;

  constructor(ws: WebSocket) {
    super(ws);
    ws.on('message', (data: RawData, isBinary: boolean) => {
      this.binary = isBinary;
      this.emit(
        'data',
        Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(new Uint8Array(data)),
      );
    });
  }
}

/** A WebSocket that stays open: each WS message is one chunk, each write one WS message (text or binary, as asked). */
class WsConnection extends StreamConnection {
  constructor(
    id: string,
    remote: string,
    private readonly ws: WebSocket,
    private readonly messages = new WsMessages(ws),
  ) {
    super(id, remote, messages);
    ws.on('close', () => this.notifyClosed());
  }

  write(data: Buffer): void {
    if (this.ws.readyState === this.ws.OPEN) this.ws.send(data, { binary: this.messages.binary });
  }
  close(): void {
    this.ws.close(1000, 'closed by the agent');
    setTimeout(() => this.ws.terminate(), 1000).unref();
  }
}

/** How many times maxBodyBytes a WebSocket message may be before the WebSocket is closed rather than answered. */
export const WS_OVERSIZE_CLOSE = 4;

export class HttpTransport implements Transport {
  private shared: SharedServer | undefined;
  private onConnection: ((conn: Connection) => void) | undefined;
  private readonly wss: WebSocketServer;
  private readonly open = new Set<{ close(): void }>();
  private seq = 0;

  constructor(private readonly opts: HttpTransportOptions) {
    // a message a little over maxBodyBytes reaches the message framing, which answers TB_FRAME_TOO_LARGE and keeps
    // the connection; one far over it (WS_OVERSIZE_CLOSE times) closes the WebSocket (1009), so none is held whole
    this.wss = new WebSocketServer({ noServer: true, maxPayload: opts.maxBodyBytes * WS_OVERSIZE_CLOSE });
  }

  describe(): string {
    const port = this.shared?.port ?? this.opts.port;
    return `http://${this.opts.host}:${port}/v1/registers/${this.opts.register}/messages`;
  }

  /** The bound port (useful with port 0), once started. */
  port(): number | undefined {
    return this.shared?.port;
  }

  async start(onConnection: (conn: Connection) => void): Promise<void> {
    if (this.shared) throw new Error('http transport already started');
    this.onConnection = onConnection;
    this.shared = await acquire(this.opts.host, this.opts.port, this.opts.register, this, this.opts.log);
  }

  async stop(): Promise<void> {
    const shared = this.shared;
    if (!shared) return;
    this.shared = undefined;
    this.onConnection = undefined;
    for (const c of [...this.open]) c.close();
    this.open.clear();
    await release(shared, this.opts.register);
  }

  /** @internal called by the shared server for a request on this register's path. */
  request(req: IncomingMessage, res: ServerResponse): void {
    const onConnection = this.onConnection;
    if (req.method !== 'POST') {
      res.setHeader('allow', 'POST');
      sendError(res, 405, TbCodes.INVALID, 'use POST (or GET with a WebSocket upgrade) on this path', true);
      return;
    }
    if (!onConnection) {
      sendError(res, 503, TbCodes.INTERNAL, 'this register is stopping', true);
      return;
    }
    const max = this.opts.maxBodyBytes;
    const tooLarge = (): void =>
      sendError(res, 413, TbCodes.FRAME_TOO_LARGE, `request body over ${max} bytes refused`, true);
    if (Number(req.headers['content-length'] ?? 0) > max) {
      tooLarge();
      return;
    }

    const chunks: Buffer[] = [];
    let size = 0;
    let received = false;
    const conn = new PostConnection(`http-${++this.seq}`, remoteOf(req), res, this.opts.contentType);
    const pending = { close: () => conn.close() };
    this.open.add(pending);
    const timer = setTimeout(() => {
      if (received)
        sendError(
          res,
          504,
          TbCodes.INTERNAL,
          `no answer within ${this.opts.requestTimeoutMs} ms; send the message again (same id)`,
        );
      else
        sendError(
          res,
          408,
          TbCodes.MALFORMED,
          `the request body did not arrive within ${this.opts.requestTimeoutMs} ms`,
          true,
        );
    }, this.opts.requestTimeoutMs);
    res.on('close', () => {
      clearTimeout(timer);
      this.open.delete(pending);
    });

    req.on('error', (err) => this.opts.log.debug({ err }, 'register request error'));
    req.on('data', (chunk: Buffer) => {
      if (res.headersSent) return;
      size += chunk.length;
      if (size > max) {
        chunks.length = 0;
        req.pause();
        tooLarge();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => {
      if (res.headersSent) return;
      received = true;
      if (size === 0) {
        sendError(res, 400, TbCodes.MALFORMED, 'the request body is empty: send one message');
        return;
      }
      onConnection(conn);
      conn.deliver(Buffer.concat(chunks, size));
    });
  }

  /** @internal called by the shared server for a WebSocket upgrade on this register's path. */
  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const onConnection = this.onConnection;
    if (!onConnection) {
      refuseOnSocket(socket, 503, { json: { code: TbCodes.INTERNAL, message: 'this register is stopping' } });
      return;
    }
    this.wss.handleUpgrade(req, socket, head, (ws) => {
      if (!this.onConnection) {
        ws.close(1001, 'register stopping');
        return;
      }
      ws.on('error', (err) => this.opts.log.debug({ err }, 'register websocket error'));
      const conn = new WsConnection(`ws-${++this.seq}`, remoteOf(req), ws);
      this.open.add(conn);
      ws.on('close', () => this.open.delete(conn));
      onConnection(conn);
    });
  }
}
