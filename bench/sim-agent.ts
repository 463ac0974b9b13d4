/**
 * A light simulated store agent for the benchmarks: the real handshake and wire protocol of
 * agent/src/sync (token endpoint, WebSocket, hello → welcome, register report, heartbeat,
 * inventory digest; `events` batches acked by the hub; `authorize` requests; return completions),
 * without a database, registers or an outbox on disk. Thousands fit in one process.
 *
 * `keepConnected()` makes it behave like the real agent's HubLink when the connection is lost:
 * it reconnects after a full-jitter backoff (base 500 ms, cap 30 s — the agent's defaults), the
 * exponent growing with each failed attempt and starting afresh only after a connection that
 * stayed up for 30 s; a 401 or a close for an expired token fetches a new token.
 */
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import WebSocket from 'ws';
import got from 'got';
import { AGENT_WS_PATH, CloseCodes, fullJitterDelay, TOKEN_PATH, WIRE_VERSION } from '@tillbridge/shared';

interface Frame {
  t: string;
  [k: string]: unknown;
}

/** Wall-clock milliseconds with sub-millisecond resolution, comparable between processes. */
export const epochMs = (): number => performance.timeOrigin + performance.now();

export interface SimAgentOptions {
  /** the hub's http(s) URL (token endpoint) and ws(s) URL */
  url: string;
  wsUrl: string;
  store: string;
  apiKey: string;
  /** the store's registers (reported, and named by the events) */
  registers?: string[];
  /** the local address to connect from (127.0.0.x spreads the ephemeral ports) */
  localAddress?: string;
  reconnectBaseMs?: number;
  reconnectCapMs?: number;
}

export interface AuthzOutcome {
  ms: number;
  ok: boolean;
  decision?: string;
  mode?: string;
  authorization: string;
  refund?: number;
  code?: string;
}

const STABLE_AFTER_MS = 30_000;
const HANDSHAKE_TIMEOUT_MS = 5_000;
const WELCOME_TIMEOUT_MS = 30_000;

export class SimAgent {
  readonly registers: string[];
  private token: string | undefined;
  private ws: WebSocket | undefined;
  private waiting: { match: (f: Frame) => boolean; resolve: (f: Frame) => void }[] = [];
  private rid = 0;
  private seq = 0;
  private readonly run = randomUUID();
  private attempt = 0;
  private keep = false;
  private stopped = false;
  private eventChain: Promise<unknown> = Promise.resolve();
  /** connection attempts that failed (refused, timed out, closed before sync) */
  failures = 0;
  /** when the connection was last lost (epoch ms) and when the agent was last synced again */
  lostAt: number | undefined;
  syncedAt: number | undefined;
  /** synced now: welcomed, reported, digest handled */
  synced = false;

  constructor(private readonly o: SimAgentOptions) {
    this.registers = o.registers ?? ['R1'];
  }

  get store(): string {
    return this.o.store;
  }

  /** The register `i` (counted round the store's registers). */
  register(i: number): string {
    const register = this.registers[i % this.registers.length];
    if (register === undefined) throw new Error(`${this.store}: has no registers`);
    return register;
  }

  /**
   * Token (once), WebSocket, hello → welcome and the full inventory, register report, heartbeat, digest; resolves once
   * the hub has handled them.
   */
  async connect(): Promise<void> {
    if (!this.token) await this.fetchToken();
    const ws = new WebSocket(new URL(AGENT_WS_PATH, this.o.wsUrl).toString(), {
      headers: { authorization: `Bearer ${this.token}` },
      handshakeTimeout: HANDSHAKE_TIMEOUT_MS,
      ...(this.o.localAddress ? { localAddress: this.o.localAddress } : {}),
    });
    this.ws = ws;
    ws.on('message', (data) => {
      const bytes = Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(data);
      const f = JSON.parse(bytes.toString()) as Frame;
      const i = this.waiting.findIndex((w) => w.match(f));
      const [waiter] = i >= 0 ? this.waiting.splice(i, 1) : [];
      waiter?.resolve(f);
    });
    ws.on('error', () => undefined);
    ws.on('close', (code) => {
      if (this.ws !== ws) return;
      this.synced = false;
      if (code === CloseCodes.TOKEN_EXPIRED || code === CloseCodes.UNAUTHORIZED) this.token = undefined;
      // every waiter of this connection is answered with a close (nothing waits forever)
      for (const w of this.waiting.splice(0)) w.resolve({ t: 'closed', code });
    });
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('close', () => reject(new Error(`${this.store}: closed before open`)));
      ws.once('unexpected-response', (_req, res) => {
        if (res.statusCode === 401) this.token = undefined;
        ws.terminate();
        reject(new Error(`${this.store}: upgrade answered HTTP ${res.statusCode}`));
      });
    });
    const welcomed = this.next((f) => f.t === 'inventory' && f.full === true);
    this.send({
      t: 'hello',
      v: WIRE_VERSION,
      agent: `bench-${this.store}`,
      incarnation: `inc-${this.store}`,
      newest: this.seq,
      software: 'bench/1',
      run: this.run,
      attempt: ++this.attempt,
    });
    const timer = setTimeout(() => ws.terminate(), WELCOME_TIMEOUT_MS);
    const w = await welcomed;
    clearTimeout(timer);
    if (w.t === 'closed') throw new Error(`${this.store}: closed (${String(w.code)}) before welcome`);
    const at = new Date().toISOString();
    this.send({
      t: 'terminal',
      items: this.registers.map((register, i) => ({
        register,
        state: 'listening',
        transport: `tcp://0.0.0.0:${9100 + i}`,
        connections: 0,
        at,
      })),
    });
    this.heartbeat();
    this.send({ t: 'inventory.digest', items: [], upTo: 1 });
    await this.handled();
    this.synced = true;
    this.syncedAt = epochMs();
  }

  private async fetchToken(): Promise<void> {
    const r = await got.post(new URL(TOKEN_PATH, this.o.url), {
      json: { store: this.o.store, apiKey: this.o.apiKey },
      throwHttpErrors: false,
      retry: { limit: 0 },
    });
    if (r.statusCode !== 200) throw new Error(`token for ${this.store}: HTTP ${r.statusCode} ${r.body}`);
    this.token = (JSON.parse(r.body) as { accessToken: string }).accessToken;
  }

  /**
   * From now on a lost connection is reconnected as the real agent does (full-jitter backoff,
   * the exponent growing per failed attempt, reset after a connection that stayed up 30 s).
   */
  keepConnected(): void {
    if (this.keep) return;
    this.keep = true;
    void this.reconnectLoop();
  }

  private async reconnectLoop(): Promise<void> {
    let attempt = 0;
    const base = this.o.reconnectBaseMs ?? 500;
    const cap = this.o.reconnectCapMs ?? 30_000;
    while (!this.stopped) {
      if (this.ws?.readyState === WebSocket.OPEN) {
        const ws = this.ws;
        await new Promise((r) => ws.once('close', r));
        // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- stop() may have run during the await
        if (this.stopped) return;
        this.lostAt = epochMs();
        const upFor = this.syncedAt === undefined ? 0 : this.lostAt - this.syncedAt;
        if (upFor >= STABLE_AFTER_MS) attempt = 0;
      }
      const delay = fullJitterDelay(attempt++, { baseMs: base, capMs: cap });
      await new Promise((r) => setTimeout(r, Math.max(delay, 50)));
      // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- stop() may have run during the wait
      if (this.stopped) return;
      try {
        await this.connect();
      } catch {
        this.failures++;
        this.ws?.terminate();
      }
    }
  }

  heartbeat(): void {
    this.send({
      t: 'heartbeat',
      outboxDepth: 0,
      oldestAgeMs: 0,
      registers: this.registers.map((id) => ({ id, connected: 1 })),
      policyVersion: 0,
      configVersion: 0,
      authz: { since: '2026-01-01T00:00:00Z', online: {}, offline: {}, lateOnline: 0, failed: 0 },
    });
  }

  /** Resolves once the hub has handled every frame sent before it. */
  async handled(): Promise<void> {
    const rid = ++this.rid;
    const done = this.next((f) => f.t === 'res' && f.rid === rid);
    this.send({ t: 'req', rid, op: 'receipt.lookup', body: { receipt: 'NONE', after: 0 } });
    const f = await done;
    if (f.t === 'closed')
      throw new Error(`${this.store}: closed (${String(f.code)}) before the hub handled the frames`);
  }

  /**
   * Sends one `events` frame of `bodies` (kind `kind`), waits for its ack (every event committed at
   * the hub), and resends it after a nack's retryAfterMs. One batch in flight per agent, like the
   * agent's uploader. Resolves with the batch's last seq.
   */
  events(kind: string, bodies: { register?: string; body: unknown }[]): Promise<number> {
    const run = async (): Promise<number> => {
      const at = new Date().toISOString();
      const items = bodies.map((b, i) => ({
        seq: this.seq + i + 1,
        id: `${this.store}-${this.run.slice(0, 8)}-${this.seq + i + 1}`,
        kind,
        register: b.register ?? this.register(0),
        at,
        body: b.body,
      }));
      this.seq += items.length;
      const upTo = this.seq;
      const text = JSON.stringify({ t: 'events', items });
      for (;;) {
        const reply = this.next(
          (f) => (f.t === 'ack' && f.upTo === upTo) || (f.t === 'nack' && (f.seq as number) <= upTo),
        );
        this.send(text, true);
        const f = await reply;
        if (f.t === 'ack') return upTo;
        if (f.t === 'closed')
          throw new Error(`${this.store}: closed (${String(f.code)}) before the ack of seq ${upTo}`);
        await new Promise((r) => setTimeout(r, f.retryAfterMs as number));
      }
    };
    const p = this.eventChain.then(run, run);
    this.eventChain = p.catch(() => undefined);
    return p;
  }

  /** The last seq this agent gave an event. */
  get newest(): number {
    return this.seq;
  }

  /** An online return authorization for `qty` of `line` of `receipt` (after this agent's events up to `after`). */
  async authorize(receipt: string, line: number, qty: number, after: number): Promise<AuthzOutcome> {
    const rid = ++this.rid;
    const authorization = `A-${this.store}-${rid}-${this.run.slice(0, 6)}`;
    const done = this.next((f) => (f.t === 'res' && f.rid === rid) || f.t === 'closed');
    const t = performance.now();
    this.send({
      t: 'req',
      rid,
      op: 'authorize',
      body: {
        authorization,
        after,
        register: this.registers[0],
        requestId: `rq-${authorization}`,
        receipt,
        lines: [{ line, qty, disposition: 'restock' }],
      },
    });
    const f = await done;
    const ms = performance.now() - t;
    if (f.t === 'closed') return { ms, ok: false, authorization, code: `closed ${String(f.code)}` };
    if (f.ok !== true) return { ms, ok: false, authorization, code: String(f.code) };
    const body = f.body as { decision: string; mode: string; refundAmount: number };
    return { ms, ok: true, decision: body.decision, mode: body.mode, refund: body.refundAmount, authorization };
  }

  drop(): void {
    this.ws?.terminate();
  }

  /** Closes for good (no reconnection). */
  stop(): void {
    this.stopped = true;
    this.ws?.terminate();
  }

  private next(match: (f: Frame) => boolean): Promise<Frame> {
    return new Promise((resolve) => this.waiting.push({ match, resolve }));
  }

  private send(frame: unknown, raw = false): void {
    if (this.ws?.readyState === WebSocket.OPEN) this.ws.send(raw ? (frame as string) : JSON.stringify(frame));
  }
}
