import { EventEmitter } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import { wsText } from '../../test/support/ws.js';

/**
 * A hub stand-in on 127.0.0.1 made of real sockets, for the states a real hub does not get into
 * on demand: a token endpoint that holds its answer, an upgrade that is never answered, a
 * connection that never acks. It speaks just enough of the protocol: a token, the upgrade,
 * `welcome` after `hello`, then whatever the test sends.
 */
export class StubHub extends EventEmitter<{
  token: [n: number];
  upgrade: [n: number];
  gone: [n: number];
  frame: [frame: Record<string, unknown>];
  connected: [ws: WebSocket];
}> {
  /** `answer`: a token at once; `hold`: keep the request open until `releaseTokens()` (or forever). */
  tokenMode: 'answer' | 'hold' = 'answer';
  /** Which token requests (1, 2, …) to hold, whatever `tokenMode` says (e.g. only the refresh). */
  holdToken: (n: number) => boolean = () => this.tokenMode === 'hold';
  /** Which token requests (1, 2, …) to answer 429 TB_RATE_LIMITED, with this `Retry-After` header (if any). */
  refuseToken: (n: number) => { retryAfter?: string } | undefined = () => undefined;
  /**
   * `accept`: complete the WebSocket upgrade; `hang`: read the request and never answer it; `refuse`: 429 with
   * `Retry-After: 60`.
   */
  upgradeMode: 'accept' | 'hang' | 'refuse' = 'accept';
  /** `welcome`: answer each hello; `ignore`: never answer it. */
  helloMode: 'welcome' | 'ignore' = 'welcome';
  tokenLifetimeSec = 900;
  lastSeq = 0;
  tokenRequests = 0;
  upgrades = 0;
  readonly frames: Record<string, unknown>[] = [];
  readonly sockets = new Set<WebSocket>();
  private readonly held: ServerResponse[] = [];
  private readonly raw = new Set<Socket>();
  private readonly server: Server;
  private readonly wss = new WebSocketServer({ noServer: true });
  private port = 0;

  constructor() {
    super();
    this.server = createServer((req, res) => this.onRequest(req, res));
    this.server.on('connection', (s: Socket) => {
      this.raw.add(s);
      s.on('close', () => this.raw.delete(s));
    });
    this.server.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => {
      const n = ++this.upgrades;
      this.raw.add(socket);
      socket.on('close', () => this.raw.delete(socket));
      socket.on('error', () => undefined);
      if (this.upgradeMode === 'hang') {
        // read (and drop) what comes, so that the client going away is seen
        socket.on('end', () => this.emit('gone', n)).resume();
        this.emit('upgrade', n);
        return;
      }
      if (this.upgradeMode === 'refuse') {
        socket.end(
          'HTTP/1.1 429 Too Many Requests\r\nConnection: close\r\nRetry-After: 60\r\nContent-Length: 0\r\n\r\n',
        );
        this.emit('upgrade', n);
        return;
      }
      this.wss.handleUpgrade(req, socket, head, (ws) => {
        this.sockets.add(ws);
        ws.on('close', () => this.sockets.delete(ws));
        ws.on('message', (data) => {
          const frame = JSON.parse(wsText(data)) as Record<string, unknown>;
          this.frames.push(frame);
          if (frame.t === 'hello' && this.helloMode === 'welcome')
            ws.send(
              JSON.stringify({
                t: 'welcome',
                v: 1,
                store: 'S1',
                lastSeq: this.lastSeq,
                serverTime: new Date().toISOString(),
                cardKey: 'a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2U',
              }),
            );
          this.emit('frame', frame);
        });
        this.emit('connected', ws);
      });
      this.emit('upgrade', n);
    });
  }

  get wsUrl(): string {
    return `ws://127.0.0.1:${this.port}`;
  }

  async start(): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as { port: number }).port;
    return this;
  }

  /** Sends a frame to every connected agent. */
  push(frame: Record<string, unknown>): void {
    for (const ws of this.sockets) ws.send(JSON.stringify(frame));
  }

  /** Answers every held token request. */
  releaseTokens(): void {
    for (const res of this.held.splice(0)) this.answerToken(res);
  }

  async close(): Promise<void> {
    for (const ws of this.sockets) ws.terminate();
    for (const s of this.raw) s.destroy();
    this.server.closeAllConnections();
    await new Promise<void>((r) => this.wss.close(() => r()));
    await new Promise<void>((r) => this.server.close(() => r()));
  }

  private onRequest(req: IncomingMessage, res: ServerResponse): void {
    req.resume();
    if (req.method !== 'POST' || req.url !== '/v1/token') {
      res.writeHead(404).end();
      return;
    }
    const n = ++this.tokenRequests;
    req.on('end', () => {
      const refusal = this.refuseToken(n);
      if (refusal) {
        const headers: Record<string, string> = { 'content-type': 'application/json' };
        if (refusal.retryAfter !== undefined) headers['retry-after'] = refusal.retryAfter;
        res
          .writeHead(429, headers)
          .end(JSON.stringify({ code: 'TB_RATE_LIMITED', message: 'too many token requests' }));
      } else if (this.holdToken(n)) this.held.push(res);
      else this.answerToken(res);
      this.emit('token', n);
    });
  }

  private answerToken(res: ServerResponse): void {
    res.writeHead(200, { 'content-type': 'application/json' }).end(
      JSON.stringify({
        accessToken: `tok-${this.tokenRequests}`,
        tokenType: 'Bearer',
        expiresIn: this.tokenLifetimeSec,
      }),
    );
  }
}
