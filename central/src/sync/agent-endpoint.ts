import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import { AGENT_WS_PATH, CloseCodes, type Logger } from '@tillbridge/shared';
import type { AccessTokens } from '../auth/access-tokens.js';
import type { Stores } from '../domain/stores.js';
import { AgentSession, type SessionDeps } from './agent-session.js';

/** Largest frame an agent may send (a batch of events). */
const MAX_FRAME = 8 * 1024 * 1024;
const PING_MS = 15_000;

/**
 * The agents' WebSocket endpoint: one connection per store, authenticated by a bearer access
 * token at the upgrade. A newer connection from the same store replaces the older one.
 */
export class AgentEndpoint {
  private readonly wss = new WebSocketServer({ noServer: true, maxPayload: MAX_FRAME });
  private readonly sessions = new Map<string, AgentSession>();
  private readonly alive = new WeakMap<WebSocket, boolean>();
  private readonly pinger: NodeJS.Timeout;

  constructor(
    private readonly tokens: AccessTokens,
    private readonly stores: Stores,
    private readonly deps: SessionDeps,
    private readonly log: Logger,
  ) {
    this.pinger = setInterval(() => {
      for (const ws of this.wss.clients) {
        if (this.alive.get(ws) === false) {
          ws.terminate();
          continue;
        }
        this.alive.set(ws, false);
        ws.ping();
      }
    }, PING_MS);
    this.pinger.unref();
  }

  session(store: string): AgentSession | undefined {
    return this.sessions.get(store);
  }

  /** Sends the current policy to one store's agent, or (store undefined) to every connected agent. */
  pushPolicy(store?: string): void {
    if (store !== undefined) this.sessions.get(store)?.pushPolicy();
    else for (const s of this.sessions.values()) s.pushPolicy();
  }

  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const url = new URL(req.url ?? '/', 'http://hub');
    if (url.pathname !== AGENT_WS_PATH) return reject(socket, 404, 'Not Found');
    const auth = req.headers.authorization ?? '';
    const m = /^Bearer (.+)$/.exec(auth);
    if (!m) return reject(socket, 401, 'Unauthorized');
    this.tokens.verify(m[1]!).then(
      ({ store, expiresAt }) => {
        if (!this.stores.get(store)) return reject(socket, 401, 'Unauthorized');
        this.wss.handleUpgrade(req, socket, head, (ws) => this.accept(ws, store, expiresAt));
      },
      () => reject(socket, 401, 'Unauthorized'),
    );
  }

  private accept(ws: WebSocket, store: string, expiresAt: number): void {
    const prior = this.sessions.get(store);
    if (prior) prior.close(CloseCodes.REPLACED, 'replaced by a newer connection from this store');
    const session = new AgentSession(store, ws, expiresAt, this.deps);
    this.sessions.set(store, session);
    this.alive.set(ws, true);
    ws.on('pong', () => this.alive.set(ws, true));
    ws.on('error', (err) => this.log.warn({ store, err: err.message }, 'agent socket error'));
    ws.on('close', () => {
      session.dispose();
      if (this.sessions.get(store) === session) {
        this.sessions.delete(store);
        const now = this.deps.now();
        this.deps.presence.disconnected(store, now);
        this.stores.touch(store, now);
        this.log.info({ store }, 'agent disconnected');
      }
    });
  }

  async close(): Promise<void> {
    clearInterval(this.pinger);
    for (const s of this.sessions.values()) s.close(CloseCodes.GOING_AWAY, 'hub shutting down');
    for (const ws of this.wss.clients) ws.terminate();
    await new Promise<void>((r) => this.wss.close(() => r()));
  }
}

function reject(socket: Duplex, status: number, text: string): void {
  socket.write(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
  socket.destroy();
}
