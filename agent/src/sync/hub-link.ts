import { randomUUID } from 'node:crypto';
import WebSocket, { type RawData } from 'ws';
import {
  AGENT_WS_PATH,
  CloseCodes,
  monotonicClock,
  parseHubFrame,
  type HubFrame,
  ReconnectBackoff,
  isTbError,
  sleep,
  systemClock,
  TbCodes,
  TbError,
  WIRE_VERSION,
  outgoingFrame,
  WIRE_VERSION_MIN,
  type AgentFrame,
  type AuthorizeRequestBody,
  type AuthorizeResult,
  type Logger,
  type OverrideBody,
  type ReceiptLookupBody,
  type ReceiptLookupResult,
} from '@tillbridge/shared';
import { EventBus } from '../core/agent-events.js';
import type { HubAuthorizer } from '../core/ports.js';

export type { HubAuthorizer } from '../core/ports.js';
import {
  fetchAccessToken,
  hubRefusalCode,
  pinnedAgentFor,
  retryAfterMs,
  type AccessToken,
  type ClientTls,
} from './token-client.js';

export interface HubLinkOptions {
  /**
   * The hub's URL, or several tried in turn: a failed or lost connection moves to the next one
   * (round-robin), and the backoff grows only after a full round has failed.
   */
  url: string | readonly string[];
  store: string;
  /** The API key to use now (the config's, or a rotated-in one the agent stored). */
  apiKey: () => string;
  tls?: ClientTls;
  /** Fetch the next access token at this share of the current one's life (default 0.8). */
  refreshRatio?: number;
  agentId: string;
  /** What each hello says of this database: its incarnation and the highest seq it ever gave (DESIGN rule 9). */
  hello: () => { incarnation: string; newest: number };
  software: string;
  /** the OS this agent runs on and when it started (said in the hello from protocol 3 on: the hub shows them) */
  os?: { platform: string; release: string; arch: string };
  startedAt?: string;
  reconnectBaseMs: number;
  reconnectCapMs: number;
  /** ws ping interval; a connection silent for two of them is dropped */
  pingMs: number;
  /** A connection up this long after its welcome starts a fresh round when it is lost (default STABLE_AFTER_MS). */
  stableMs?: number;
  /** The backoff's random source (default Math.random; tests make the waits observable). */
  random?: () => number;
  /** Give up a WebSocket upgrade the hub has not answered in this long (default 5 s). */
  handshakeTimeoutMs?: number;
  /** Give up a connection the hub has not welcomed this long after its hello (default 30 s). */
  welcomeTimeoutMs?: number;
  log: Logger;
  /**
   * The agent's clock, for the times it shows (connected since, refused at, a failed frame's
   * time); default the system's. The token's refresh is timed in elapsed time (monotonicClock).
   */
  now?: () => number;
  /** Waits `ms` or until `signal` fires (tests observe and release the waits; default `sleep`). */
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
}

export interface HubLinkEvents {
  welcome: [lastSeq: number, cardKey: string];
  policy: [version: number, policy: unknown];
  /** a rotated-in API key to store (then confirm with confirmKey) */
  key: [id: string, apiKey: string];
  ack: [upTo: number, results: { seq: number; outcome: string; code?: string }[]];
  nack: [seq: number, code: string, retryAfterMs: number];
  inventory: [full: boolean, items: { sku: string; onHand: number }[], removed: string[]];
  /** the hub answered a request after its deadline */
  late: [];
  /** the store's sync settings, pushed by the hub */
  config: [version: number, settings: unknown];
  /** the hub lacks events of a register's business day: send them again (from the journal) */
  resend: [register: string, businessDay: string, missing: { receipts: string[]; authorizations: string[] }];
  down: [];
  /**
   * The hub found this database behind or forked from what it applied (restored, reverted,
   * copied): start a new incarnation now (synchronously), before the link reconnects.
   */
  incarnation: [reason: string];
}

/** The hub refused this agent: another copy of its database is connected (DESIGN rule 9). */
export interface HubRefusal {
  code: string;
  reason: string;
  at: string;
}

/** A connection that stayed up this long was a working one: losing it starts a fresh round of hubs, without backoff. */
export const STABLE_AFTER_MS = 30_000;

/** How long a closing connection waits for the hub's close frame before the socket is dropped. */
export const CLOSE_GRACE_MS = 2000;
/** How long the WebSocket upgrade may take before the agent gives it up and dials again. */
export const HANDSHAKE_TIMEOUT_MS = 5000;
/** How long after its hello the agent waits for the hub's welcome (the hub may first probe an old connection). */
export const WELCOME_TIMEOUT_MS = 30_000;

/** A listener of a hub frame that threw: what the link counts and shows in `status`. */
export interface FrameFailure {
  frame: string;
  code: string;
  message: string;
  at: string;
}

export interface HubLinkInfo {
  connected: boolean;
  /** The hub URL in use: connected to, or tried next. */
  url: string;
  /** Every configured hub URL, in the order they are tried. */
  urls: string[];
  since?: string;
  lastError?: string;
  /** The hub refused this copy of the agent (DESIGN rule 9), or this version of it (TB_PROTOCOL_VERSION). */
  refused?: HubRefusal;
  /** The protocol version the connection uses (the hub's welcome). */
  protocol?: number;
  /** Listeners of hub frames that threw since start, by frame (the link carried on). */
  frameFailures?: Record<string, number>;
  lastFrameError?: FrameFailure;
}

/** What the handlers of one connection's socket share. */
interface ConnectionState {
  opened: boolean;
  /** The hello said a range of protocol versions (not protocol 2's). */
  sentRanged: boolean;
  /** The hub answered since the last ping. */
  alive: boolean;
  pinger?: NodeJS.Timeout;
  closeGrace?: NodeJS.Timeout;
  welcomeWait?: NodeJS.Timeout;
}

interface Pending {
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
}

/**
 * The agent's one WebSocket to the hub: token, connect, hello/welcome, request/response with
 * deadlines, and reconnection with full-jitter backoff for as long as the signal is not aborted.
 * With several hub URLs, a failed or lost connection moves on to the next one at once; the backoff
 * counts full rounds of them, and a working connection keeps its hub until it is lost.
 */
export class HubLink implements HubAuthorizer {
  /**
   * What the hub says (a welcome, a policy, an ack…), for the parts of the agent the composition
   * root subscribes. A handler that throws is logged with its error and counted (status), and the
   * others still run: nothing a handler does can throw out of the socket's events, so no frame
   * from the hub can stop the agent (DESIGN rule 12).
   */
  readonly events: EventBus<HubLinkEvents>;
  private ws: WebSocket | undefined;
  private ready = false;
  private token: AccessToken | undefined;
  private nextRid = 1;
  private readonly pending = new Map<number, Pending>();
  private connectedSince: number | undefined;
  private lastError: string | undefined;
  private refusal: HubRefusal | undefined;
  /** The `n` of the last inventory frame applied on this connection (echoed in digests). */
  private inventorySeenN = 0;
  private loop: Promise<void> | undefined;
  /** Aborted when the current connection closes: a token refresh under way stops with it. */
  private connection: AbortController | undefined;
  private readonly frameFailures: Record<string, number> = {};
  /** The hub answered a token request 429: no token request, from any path, before this wait ends. */
  private tokenHold: Promise<void> | undefined;
  private runSignal: AbortSignal | undefined;
  private lastFrameError: FrameFailure | undefined;
  private readonly urls: readonly string[];
  /** The index in `urls` of the hub in use: it changes only when a connection fails or is lost. */
  private current = 0;
  /** Rounds of hubs failed since the last working connection; a welcome marks the connection up. */
  private readonly backoff: ReconnectBackoff;

  private readonly now: () => number;
  /**
   * This run of the link and the number of its latest connection, said in each hello: the hub lets no older connection
   * displace a newer one.
   */
  private readonly runId = randomUUID();
  private attempts = 0;
  /** The protocol version the hub's last welcome chose. */
  private protocol: number | undefined;
  /**
   * The hub refused the ranged hello as a protocol error: a hub from before version negotiation
   * (protocol 2 only, strict about the hello's fields). The next hellos are protocol 2's.
   */
  private legacyHello = false;

  constructor(private readonly opts: HubLinkOptions) {
    this.events = new EventBus((event, err) => this.handlerFailed(event, err));
    this.backoff = new ReconnectBackoff({
      baseMs: opts.reconnectBaseMs,
      capMs: opts.reconnectCapMs,
      stableMs: opts.stableMs ?? STABLE_AFTER_MS,
      ...(opts.random ? { random: opts.random } : {}),
      ...(opts.sleep ? { sleep: opts.sleep } : {}),
    });
    this.now = opts.now ?? (() => systemClock.now());
    this.urls = typeof opts.url === 'string' ? [opts.url] : [...opts.url];
    if (this.urls.length === 0) throw new TypeError('HubLink needs at least one hub URL');
  }

  /** The hub URL in use. */
  private get url(): string {
    const url = this.urls[this.current];
    if (url === undefined) throw new RangeError(`no hub URL number ${this.current + 1}`);
    return url;
  }

  get connected(): boolean {
    return this.sendable !== undefined;
  }

  /** The socket, once the hub has welcomed this agent on it and while it is open: frames may be sent. */
  private get sendable(): WebSocket | undefined {
    return this.ready && this.ws?.readyState === WebSocket.OPEN ? this.ws : undefined;
  }

  inventorySeen(): number {
    return this.inventorySeenN;
  }

  info(): HubLinkInfo {
    const out: HubLinkInfo = { connected: this.connected, url: this.url, urls: [...this.urls] };
    if (this.connected && this.connectedSince !== undefined) out.since = new Date(this.connectedSince).toISOString();
    if (this.lastError) out.lastError = this.lastError;
    if (this.refusal) out.refused = this.refusal;
    if (this.connected && this.protocol !== undefined) out.protocol = this.protocol;
    if (this.lastFrameError) {
      out.frameFailures = { ...this.frameFailures };
      out.lastFrameError = this.lastFrameError;
    }
    return out;
  }

  private handlerFailed(frame: string, err: unknown): void {
    const code =
      typeof (err as { code?: unknown } | null | undefined)?.code === 'string'
        ? (err as { code: string }).code
        : TbCodes.INTERNAL;
    this.frameFailures[frame] = (this.frameFailures[frame] ?? 0) + 1;
    this.lastFrameError = {
      frame,
      code,
      message: err instanceof Error ? err.message : String(err),
      at: new Date(this.now()).toISOString(),
    };
    this.opts.log.error({ err, frame }, 'handling a frame from the hub failed; the link carries on');
  }

  start(signal: AbortSignal): void {
    this.runSignal = signal;
    this.loop = this.run(signal);
  }

  async stopped(): Promise<void> {
    await this.loop;
  }

  send(frame: AgentFrame): boolean {
    return this.sendRaw(JSON.stringify(frame));
  }

  /**
   * Sends an already serialized frame (not a request: those go by `request`, as text): deflated when the
   * protocol the welcome chose has compressed frames and the frame is long enough (shared wire-compression.ts).
   */
  sendRaw(text: string): boolean {
    const ws = this.sendable;
    if (!ws) return false;
    ws.send(outgoingFrame(text, this.protocol));
    return true;
  }

  authorize(body: AuthorizeRequestBody, deadlineMs: number): Promise<AuthorizeResult> {
    return this.request('authorize', body, deadlineMs).then((r) => {
      if (!r || typeof r !== 'object' || !('decision' in r))
        throw new TbError(TbCodes.HUB_UNAVAILABLE, 'the hub answered an authorization with something else');
      return r as AuthorizeResult;
    });
  }

  override(body: OverrideBody, deadlineMs: number): Promise<AuthorizeResult> {
    return this.request('override', body, deadlineMs).then((r) => {
      if (!r || typeof r !== 'object' || !('decision' in r))
        throw new TbError(TbCodes.HUB_UNAVAILABLE, 'the hub answered an override with something else');
      return r as AuthorizeResult;
    });
  }

  lookupReceipt(body: ReceiptLookupBody, deadlineMs: number): Promise<ReceiptLookupResult> {
    return this.request('receipt.lookup', body, deadlineMs).then((r) => {
      if (!r || typeof r !== 'object' || !('found' in r))
        throw new TbError(TbCodes.HUB_UNAVAILABLE, 'the hub answered a lookup with something else');
      return r as ReceiptLookupResult;
    });
  }

  private request(
    op: 'authorize' | 'receipt.lookup' | 'override',
    body: unknown,
    deadlineMs: number,
  ): Promise<unknown> {
    const ws = this.sendable;
    if (!ws) return Promise.reject(new TbError(TbCodes.HUB_UNAVAILABLE, 'not connected to the hub'));
    const rid = this.nextRid++;
    return new Promise<unknown>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(rid);
        reject(new TbError(TbCodes.HUB_UNAVAILABLE, `the hub did not answer within ${deadlineMs} ms`));
      }, deadlineMs);
      this.pending.set(rid, { resolve, reject, timer });
      ws.send(JSON.stringify({ t: 'req', rid, op, body }));
    });
  }

  /** New reconnection backoff (from the hub's sync settings), used from the next attempt on. */
  setBackoff(baseMs: number, capMs: number): void {
    this.opts.reconnectBaseMs = baseMs;
    this.opts.reconnectCapMs = capMs;
    this.backoff.setBounds(baseMs, capMs);
  }

  /** Tells the hub the rotated-in key `id` is stored (it may forget it now). */
  confirmKey(id: string): void {
    this.send({ t: 'key.ack', id });
  }

  private async newToken(signal: AbortSignal): Promise<AccessToken> {
    while (this.tokenHold && !signal.aborted) {
      this.opts.log.debug("waiting for the end of the hub's Retry-After before the next token request");
      await untilAborted(this.tokenHold, signal);
    }
    const o: { tls?: ClientTls; refreshRatio?: number; now: () => number; signal: AbortSignal } = {
      signal,
      now: () => monotonicClock.now(),
    };
    if (this.opts.tls) o.tls = this.opts.tls;
    if (this.opts.refreshRatio !== undefined) o.refreshRatio = this.opts.refreshRatio;
    try {
      return await fetchAccessToken(this.url, this.opts.store, this.opts.apiKey(), o);
    } catch (err) {
      if (isTbError(err, TbCodes.RATE_LIMITED)) this.holdTokens(Number(err.details?.retryAfterMs) || 0);
      throw err;
    }
  }

  /**
   * The hub answered 429: the next token request — a reconnection's or a refresh's — waits at
   * least its `Retry-After`, plus up to a fifth of it (at least up to a second) at random, so the
   * stores it refused together do not come back together. The reconnection backoff still applies
   * when it is longer.
   */
  private holdTokens(retryAfterMs: number): void {
    const waitMs = retryAfterMs + Math.floor(Math.random() * Math.max(1000, retryAfterMs / 5));
    this.opts.log.warn(
      { code: TbCodes.RATE_LIMITED, retryAfterMs, waitMs },
      "the hub is limiting this store's token requests; the next one waits as it asked (Retry-After)",
    );
    const hold: Promise<void> = (this.opts.sleep ?? sleep)(waitMs, this.runSignal ?? new AbortController().signal).then(
      () => {
        if (this.tokenHold === hold) this.tokenHold = undefined;
      },
    );
    this.tokenHold = hold;
  }

  private refreshTimer: NodeJS.Timeout | undefined;

  /**
   * At about 80 % of the token's life, a new one is fetched and sent on the open socket: the
   * connection, and whatever is in flight on it, carries on. Should that fail until the token
   * expires, the hub closes the socket (4001) and the agent reconnects with a fresh token.
   */
  private scheduleRefresh(): void {
    this.stopRefresh();
    const connection = this.connection?.signal;
    if (!this.token || !connection || connection.aborted) return;
    const delay = Math.max(0, this.token.refreshAt - monotonicClock.now());
    this.refreshTimer = setTimeout(
      () => {
        this.refreshTimer = undefined;
        this.newToken(connection).then(
          (t) => {
            if (connection.aborted) return; // the connection it was for has closed
            this.token = t;
            if (this.send({ t: 'token', token: t.token })) this.opts.log.debug('access token refreshed');
            this.scheduleRefresh();
          },
          (err: unknown) => {
            if (connection.aborted) return;
            this.opts.log.warn({ err }, 'could not refresh the access token; retrying');
            if (this.token && monotonicClock.now() < this.token.expiresAt) {
              this.refreshTimer = setTimeout(() => this.scheduleRefresh(), 2000);
              this.token = { ...this.token, refreshAt: monotonicClock.now() };
            }
          },
        );
      },
      Math.min(delay, 2 ** 31 - 1),
    );
  }

  private stopRefresh(): void {
    if (this.refreshTimer) clearTimeout(this.refreshTimer);
    this.refreshTimer = undefined;
  }

  private async run(signal: AbortSignal): Promise<void> {
    let tried = 0; // hubs tried in this round
    while (!signal.aborted) {
      let newIncarnation = false;
      let failure: { slow: boolean; protocolRefused: boolean } | undefined;
      try {
        newIncarnation = await this.connectOnce(signal);
      } catch (err) {
        failure = this.connectFailed(err);
      }
      // a working connection, lost: a fresh round (from the next hub). One closed for a new
      // incarnation keeps the backoff: should that repeat, it slows down
      if (this.backoff.lost(!failure && !newIncarnation)) tried = 0;
      // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- it may fire during the await
      if (signal.aborted) break;
      this.nextHub();
      // the next hub at once, until every one has failed in this round: then the backoff
      if (++tried < this.urls.length && !failure?.slow) continue;
      tried = 0;
      // refused for its version: at least half the backoff's cap between tries (not a hammering loop)
      await this.backoff.wait(signal, failure?.protocolRefused ? Math.max(this.opts.reconnectCapMs / 2, 50) : 50);
    }
  }

  /** Logs a failed or lost connection as its cause deserves; a refusal is retried slowly. */
  private connectFailed(err: unknown): { slow: boolean; protocolRefused: boolean } {
    this.lastError = (err as Error).message;
    if (isTbError(err, TbCodes.UNAUTHORIZED)) {
      const refused = `the hub refused this store's API key: ${this.lastError}`;
      this.opts.log.error({ code: TbCodes.UNAUTHORIZED, url: this.url, err }, refused);
      this.backoff.atLeast(6);
      return { slow: true, protocolRefused: false };
    }
    if (isTbError(err, TbCodes.PROTOCOL_VERSION)) {
      // logged when the hub closed; nothing changes until one side is upgraded: retried slowly
      this.backoff.atLeast(10);
      return { slow: true, protocolRefused: true };
    }
    if (isTbError(err, TbCodes.DUPLICATE_AGENT)) {
      // logged when the hub closed; retried slowly: accepted once the other copy is gone
      this.backoff.atLeast(6);
      return { slow: true, protocolRefused: false };
    }
    // a rate limit was logged when the wait began; the next token request, to whichever hub, waits for it (newToken)
    if (!isTbError(err, TbCodes.RATE_LIMITED)) this.opts.log.warn({ err, url: this.url }, 'hub connection failed');
    return { slow: false, protocolRefused: false };
  }

  /** Moves to the next hub URL, if there are several; a token is asked of the hub it is used with. */
  private nextHub(): void {
    if (this.urls.length === 1) return;
    this.current = (this.current + 1) % this.urls.length;
    this.token = undefined;
  }

  /**
   * Resolves when the connection closes (normally or not) — with true when the hub closed it for a
   * new incarnation — or at once (false) when `signal` has fired; rejects when it cannot be opened,
   * or the hub refused this copy of the agent. Every wait in it ends when `signal` fires, including
   * a signal that fired before the wait began.
   */
  private async connectOnce(signal: AbortSignal): Promise<boolean> {
    if (signal.aborted) return false;
    if (!this.token || monotonicClock.now() >= this.token.refreshAt) this.token = await this.newToken(signal);
    // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- it may fire during the await
    if (signal.aborted) return false; // the token came back after the stop was asked for
    const ws = this.openSocket(this.token.token);
    this.ws = ws;
    const attempt = ++this.attempts;
    const connection = new AbortController();
    this.connection = connection;
    return new Promise<boolean>((resolve, reject) => {
      const state: ConnectionState = { opened: false, sentRanged: false, alive: true };
      // stopping: a close frame, and the socket dropped if the hub does not answer it in time
      const onAbort = (): void => {
        ws.close(CloseCodes.GOING_AWAY, 'agent stopping');
        state.closeGrace = setTimeout(() => ws.terminate(), CLOSE_GRACE_MS);
      };
      if (signal.aborted) onAbort();
      else signal.addEventListener('abort', onAbort, { once: true });

      ws.on('unexpected-response', (_req, res) => {
        if (res.statusCode === 401 || res.statusCode === 429) this.token = undefined;
        if (res.statusCode === 429) this.holdTokens(retryAfterMs(res.headers['retry-after'], undefined, this.now()));
        const code = hubRefusalCode(res.statusCode);
        reject(new TbError(code, `the hub answered the WebSocket upgrade with HTTP ${res.statusCode}`));
        ws.terminate();
      });
      ws.on('open', () => this.sayHello(ws, attempt, state, reject));
      ws.on('pong', () => {
        state.alive = true;
      });
      ws.on('message', (data) => {
        state.alive = true;
        try {
          this.onMessage(messageText(data));
        } catch (err) {
          this.handlerFailed('message', err);
        }
        if (this.ready && state.welcomeWait) {
          clearTimeout(state.welcomeWait);
          state.welcomeWait = undefined;
        }
      });
      ws.on('error', (err) => {
        if (!state.opened) reject(new TbError(TbCodes.HUB_UNAVAILABLE, err.message, { cause: err }));
        else this.opts.log.warn({ err }, 'hub connection error');
      });
      ws.on('close', (code, reason) => {
        signal.removeEventListener('abort', onAbort);
        connection.abort();
        const outcome = this.closed(code, reason.toString(), state);
        if (outcome instanceof Error) reject(outcome);
        else resolve(outcome);
      });
    });
  }

  /** A WebSocket to the hub in use, with the access token and the TLS the config asks for. */
  private openSocket(token: string): WebSocket {
    const tls = this.opts.tls ?? {};
    return new WebSocket(new URL(AGENT_WS_PATH, this.url).toString(), {
      headers: { authorization: `Bearer ${token}` },
      // given up: the socket is destroyed, so the hub sees it go and drops the handshake
      handshakeTimeout: this.opts.handshakeTimeoutMs ?? HANDSHAKE_TIMEOUT_MS,
      maxPayload: 16 * 1024 * 1024,
      ...(tls.ca ? { ca: tls.ca } : {}),
      ...(tls.cert ? { cert: tls.cert } : {}),
      ...(tls.key ? { key: tls.key } : {}),
      // a pinned hub certificate (hub.fingerprint): checked by the agent's sockets, not by a CA
      ...(tls.fingerprint ? { agent: pinnedAgentFor(tls) } : {}),
    });
  }

  /** The socket is open: the hello, a deadline for the welcome, and pings to notice a silent hub. */
  private sayHello(ws: WebSocket, attempt: number, state: ConnectionState, reject: (err: Error) => void): void {
    state.opened = true;
    let hello: { incarnation: string; newest: number };
    try {
      hello = this.opts.hello();
    } catch (err) {
      this.opts.log.error({ err }, "could not read this database's incarnation; retrying");
      ws.terminate();
      return;
    }
    const legacy = this.legacyHello;
    state.sentRanged = !legacy;
    const { agentId: agent, software, os, startedAt } = this.opts;
    const base = {
      t: 'hello',
      agent,
      incarnation: hello.incarnation,
      newest: hello.newest,
      software,
      run: this.runId,
      attempt,
    };
    // the range this agent speaks (docs/upgrade.md); a hub from before negotiation takes only protocol 2's hello
    const frame = legacy
      ? { ...base, v: 2 }
      : { ...base, v: WIRE_VERSION, min: WIRE_VERSION_MIN, ...(os ? { os } : {}), ...(startedAt ? { startedAt } : {}) };
    ws.send(JSON.stringify(frame));
    const welcomeMs = this.opts.welcomeTimeoutMs ?? WELCOME_TIMEOUT_MS;
    state.welcomeWait = setTimeout(() => {
      // given up for good: dropped, not left half-open for the hub to find later
      reject(new TbError(TbCodes.HUB_UNAVAILABLE, `the hub did not welcome this connection within ${welcomeMs} ms`));
      ws.terminate();
    }, welcomeMs);
    state.pinger = setInterval(() => {
      if (!state.alive) {
        this.opts.log.warn('hub stopped answering pings; reconnecting');
        ws.terminate();
        return;
      }
      state.alive = false;
      ws.ping();
    }, this.opts.pingMs);
  }

  /**
   * The connection closed: its timers and requests end, and what the close says decides what
   * connectOnce settles with — true for a new incarnation, false otherwise, or the refusal.
   */
  private closed(code: number, reason: string, state: ConnectionState): boolean | TbError {
    if (state.closeGrace) clearTimeout(state.closeGrace);
    if (state.welcomeWait) clearTimeout(state.welcomeWait);
    if (state.pinger) clearInterval(state.pinger);
    this.stopRefresh();
    const wasReady = this.ready;
    this.ready = false;
    this.connectedSince = undefined;
    for (const [rid, p] of this.pending) {
      clearTimeout(p.timer);
      p.reject(new TbError(TbCodes.HUB_UNAVAILABLE, 'the hub connection closed'));
      this.pending.delete(rid);
    }
    if (code === CloseCodes.TOKEN_EXPIRED || code === CloseCodes.UNAUTHORIZED) this.token = undefined;
    if (wasReady) {
      this.opts.log.warn({ code, reason }, 'disconnected from the hub');
      this.events.emit('down');
    }
    if (code === CloseCodes.NEW_INCARNATION) this.newIncarnation(reason);
    // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- false once protocol 2 is no longer spoken
    if (code === CloseCodes.PROTOCOL && !wasReady && state.sentRanged && WIRE_VERSION_MIN <= 2) {
      // a hub from before version negotiation refused the ranged hello: protocol 2's next time
      this.legacyHello = true;
      this.opts.log.warn(
        { code, reason },
        'the hub predates protocol negotiation: saying the protocol 2 hello from now on',
      );
    }
    if (code === CloseCodes.PROTOCOL_VERSION) return this.refused(TbCodes.PROTOCOL_VERSION, reason);
    if (code === CloseCodes.DUPLICATE_AGENT) return this.refused(TbCodes.DUPLICATE_AGENT, reason);
    if (state.opened) return code === CloseCodes.NEW_INCARNATION;
    return new TbError(TbCodes.HUB_UNAVAILABLE, `connection closed before it opened (${code})`);
  }

  /** The hub refused this version of the agent, or this copy of it: logged, shown in status. */
  private refused(code: typeof TbCodes.PROTOCOL_VERSION | typeof TbCodes.DUPLICATE_AGENT, reason: string): TbError {
    const at = new Date(this.now()).toISOString();
    if (code === TbCodes.PROTOCOL_VERSION) {
      const text = reason || 'the hub and this agent share no protocol version';
      this.refusal = { code, reason: text, at };
      const fields = { code, reason: text, url: this.url, software: this.opts.software };
      this.opts.log.error(fields, `the hub refused this version of the agent: ${text}`);
      return new TbError(code, `refused by the hub: ${text}`);
    }
    const text = reason || 'another copy of this agent is connected to the hub';
    this.refusal = { code, reason: text, at };
    this.opts.log.error(
      { code, reason: text },
      'the hub refused this agent: another copy of this agent (the same database, e.g. a second PC from ' +
        'one disk image) is connected to it; sales are kept here until this copy is the only one',
    );
    return new TbError(code, `refused by the hub: ${text}`);
  }

  /** The hub closed with NEW_INCARNATION: listeners commit a new incarnation before the next hello. */
  private newIncarnation(reason: string): void {
    this.opts.log.warn(
      { reason },
      'the hub found this database behind or forked from what it applied (restored, reverted or copied)',
    );
    this.events.emit('incarnation', reason);
  }

  private onMessage(text: string): void {
    let frame;
    try {
      frame = parseHubFrame(JSON.parse(text));
    } catch (err) {
      this.opts.log.error({ err }, 'the hub sent a frame this agent does not understand');
      return;
    }
    switch (frame.t) {
      case 'welcome':
        this.inventorySeenN = 0; // frame numbers are per connection
        this.ready = true;
        this.protocol = frame.v;
        this.connectedSince = this.now();
        this.backoff.up();
        this.lastError = undefined;
        this.refusal = undefined;
        this.opts.log.info({ lastSeq: frame.lastSeq, url: this.url }, 'connected to the hub');
        this.scheduleRefresh();
        this.events.emit('welcome', frame.lastSeq, frame.cardKey);
        break;
      case 'inventory':
        this.events.emit('inventory', frame.full, frame.items, frame.removed ?? []);
        if (frame.n !== undefined) this.inventorySeenN = frame.n;
        break;
      case 'res': {
        const p = this.pending.get(frame.rid);
        if (!p) {
          this.events.emit('late'); // answered after its deadline: the offline decision already stands
          return;
        }
        this.pending.delete(frame.rid);
        clearTimeout(p.timer);
        if (frame.ok) p.resolve(frame.body);
        else p.reject(new TbError(isHubCode(frame.code) ? frame.code : TbCodes.HUB_UNAVAILABLE, frame.message));
        break;
      }
      default:
        this.relay(frame.t, frame);
    }
  }

  /** A frame the link hands on as it is: the event of its name, with its fields (RELAYED). */
  private relay<K extends RelayedFrame>(t: K, frame: Extract<HubFrame, { t: K }>): void {
    this.events.emit(t, ...RELAYED[t](frame));
  }
}

type RelayedFrame = 'key' | 'config' | 'policy' | 'ack' | 'nack' | 'resend';

/** The hub's frames the link hands on as they are, each as the event of its name with these arguments. */
const RELAYED: { [K in RelayedFrame]: (f: Extract<HubFrame, { t: K }>) => HubLinkEvents[K] } = {
  key: (f) => [f.id, f.apiKey],
  config: (f) => [f.version, f.settings],
  policy: (f) => [f.version, f.policy],
  ack: (f) => [f.upTo, f.results],
  nack: (f) => [f.seq, f.code, f.retryAfterMs],
  resend: (f) => [f.register, f.businessDay, f.missing],
};

/** Hub error codes a register should see as they are (a refused override, a wrong state…). */
function isHubCode(code: string): code is TbError['code'] {
  return (
    code === TbCodes.NOT_FOUND ||
    code === TbCodes.AUTHORIZATION_STATE ||
    code === TbCodes.INVALID ||
    code === TbCodes.FORBIDDEN
  );
}

/** Resolves when `p` does or `signal` fires, whichever is first. */
function untilAborted(p: Promise<void>, signal: AbortSignal): Promise<void> {
  return new Promise<void>((resolve) => {
    const done = (): void => {
      signal.removeEventListener('abort', done);
      resolve();
    };
    signal.addEventListener('abort', done, { once: true });
    void p.then(done);
  });
}

/** A message's text: a Buffer with ws's default binary type; fragments or an ArrayBuffer with the others. */
function messageText(data: RawData): string {
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8');
  return (data instanceof ArrayBuffer ? Buffer.from(data) : data).toString('utf8');
}
