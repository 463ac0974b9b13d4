import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import { AGENT_WS_PATH, CloseCodes, isTbError, type Logger } from '@tillbridge/shared';
import type { AccessTokens } from '../auth/access-tokens.js';
import type { Credentials } from '../auth/credentials.js';
import { retryAfterSec, sourceOf, type Gate } from '../auth/gate.js';
import type { KeyDelivery } from '../domain/key-rotation.js';
import type { Stores } from '../domain/stores.js';
import { clientCertOf } from '../tls/server-tls.js';
import { AgentSession, type SessionDeps } from './agent-session.js';

/** Largest frame an agent may send (a batch of events). */
const MAX_FRAME = 8 * 1024 * 1024;
const PING_MS = 15_000;
/** How long an agent's open connection has to answer a ping when the same agent says hello on another. */
export const DEFAULT_PROBE_MS = 5_000;

export interface EndpointSecurity {
  credentials: Credentials;
  gate: Gate;
  /** Agents must present a valid client certificate (mutual TLS). */
  requireClientCert: boolean;
}

/**
 * The agents' WebSocket endpoint: one connection per store, authenticated by a bearer access
 * token at the upgrade, and claimed for an agent by its hello. A connection of another agent of
 * the store is replaced by the newer one. A connection of the same agent is either that agent
 * reconnecting before the hub saw its old socket close — the old one does not answer a ping and
 * is dropped — or a second live copy of its database (two PCs from one disk image), which is
 * refused: close 4010, audited, kept as an exception (DESIGN rule 9).
 */
export class AgentEndpoint implements KeyDelivery {
  private readonly wss = new WebSocketServer({ noServer: true, maxPayload: MAX_FRAME });
  /** per store: the connection that said hello and was accepted */
  private readonly sessions = new Map<string, AgentSession>();
  /** per store: the claim being decided (claims of one store are decided one after the other) */
  private readonly claims = new Map<string, Promise<unknown>>();
  private readonly alive = new WeakMap<WebSocket, boolean>();
  private readonly pinger: NodeJS.Timeout;

  constructor(
    private readonly tokens: AccessTokens,
    private readonly stores: Stores,
    private readonly deps: SessionDeps,
    private readonly log: Logger,
    private readonly security: EndpointSecurity,
    private readonly probeMs = DEFAULT_PROBE_MS,
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

  /** Sends the current sync settings to one store's agent, or (store undefined) to every connected agent. */
  pushConfig(store?: string): void {
    if (store !== undefined) this.sessions.get(store)?.pushConfig();
    else for (const s of this.sessions.values()) s.pushConfig();
  }

  /** Sends the current policy to one store's agent, or (store undefined) to every connected agent. */
  pushPolicy(store?: string): void {
    if (store !== undefined) this.sessions.get(store)?.pushPolicy();
    else for (const s of this.sessions.values()) s.pushPolicy();
  }

  deliver(store: string): void {
    this.sessions.get(store)?.pushPendingKey();
  }

  dropKey(store: string, keyId: string): void {
    const s = this.sessions.get(store);
    if (s?.keyId === keyId) s.close(CloseCodes.UNAUTHORIZED, 'the API key of this connection was revoked');
  }

  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const url = new URL(req.url ?? '/', 'http://hub');
    if (url.pathname !== AGENT_WS_PATH) return reject(socket, 404, 'Not Found');
    const source = sourceOf(req);
    const { gate, credentials } = this.security;
    // a failed authentication counts against its source; once the source is blocked its failing
    // upgrades are answered 429 — a working token is served whatever else its address sent
    const refuse = (reason: string, store?: string): void => {
      const wait = gate.failed(source, 'agent connection', { reason }, store);
      if (wait > 0) reject(socket, 429, 'Too Many Requests', { 'Retry-After': String(retryAfterSec(wait)) });
      else reject(socket, 401, 'Unauthorized');
    };
    const cert = clientCertOf(req);
    if (this.security.requireClientCert && cert.kind !== 'valid') return refuse(cert.kind === 'invalid' ? `client certificate: ${cert.reason}` : 'no client certificate');
    const m = /^Bearer (.+)$/.exec(req.headers.authorization ?? '');
    if (!m) return refuse('no access token');
    this.tokens.verify(m[1]!).then(
      ({ store, kid, expiresAt }) => {
        if (!this.stores.get(store) || !credentials.keyWorks(store, kid)) return refuse('the token\'s API key no longer works', store);
        if (cert.kind === 'valid' && cert.store !== store) {
          gate.refused(source, 'auth.cert_mismatch', 'agent connection', { certificateStore: cert.store, tokenStore: store }, store);
          return reject(socket, 403, 'Forbidden');
        }
        const peer = `${req.socket.remoteAddress ?? 'unknown'}:${req.socket.remotePort ?? 0}`;
        this.wss.handleUpgrade(req, socket, head, (ws) => this.accept(ws, store, kid, expiresAt, peer));
      },
      (err: unknown) => {
        // an expired token is an agent that must refresh, not an attacker
        const expired = isTbError(err) && Boolean(err.details?.expired);
        if (!expired) refuse('invalid access token');
        else reject(socket, 401, 'Unauthorized');
      },
    );
  }

  private accept(ws: WebSocket, store: string, kid: string, expiresAt: number, peer: string): void {
    const session = new AgentSession(store, kid, ws, expiresAt, this.deps, { peer, claim: (s, agentId) => this.claim(s, agentId) });
    this.alive.set(ws, true);
    ws.on('pong', () => this.alive.set(ws, true));
    ws.on('error', (err) => this.log.warn({ store, err }, 'agent socket error'));
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

  /**
   * A connection's hello: may it speak for `agentId`? Resolves with the live copy that keeps the
   * agent when this connection is refused, else undefined (it is now the store's connection).
   */
  private claim(session: AgentSession, agentId: string): Promise<AgentSession | undefined> {
    const before = this.claims.get(session.store) ?? Promise.resolve();
    const decided = before.then(() => this.decide(session, agentId));
    const settled = decided.catch(() => undefined);
    this.claims.set(session.store, settled);
    void settled.then(() => {
      if (this.claims.get(session.store) === settled) this.claims.delete(session.store);
    });
    return decided;
  }

  private async decide(session: AgentSession, agentId: string): Promise<AgentSession | undefined> {
    const prior = this.sessions.get(session.store);
    if (prior && prior !== session && prior.open) {
      if (prior.claimed === agentId) {
        if (await prior.probe(this.probeMs)) return prior;
        this.log.info({ store: session.store, agentId }, 'the agent reconnected; its old connection did not answer and is dropped');
        prior.terminate();
      } else {
        prior.close(CloseCodes.REPLACED, 'replaced by a newer connection from this store');
      }
    }
    if (!session.open) return undefined;
    this.sessions.set(session.store, session);
    return undefined;
  }

  async close(): Promise<void> {
    clearInterval(this.pinger);
    for (const s of this.sessions.values()) s.close(CloseCodes.GOING_AWAY, 'hub shutting down');
    for (const ws of this.wss.clients) ws.terminate();
    await new Promise<void>((r) => this.wss.close(() => r()));
  }
}

function reject(socket: Duplex, status: number, text: string, headers: Record<string, string> = {}): void {
  const more = Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join('');
  socket.write(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\n${more}Content-Length: 0\r\n\r\n`);
  socket.destroy();
}
