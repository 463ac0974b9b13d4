import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { fullJitterDelay, type Logger } from '@tillbridge/shared';
import type { HubStorage, Statement } from '../storage/sql.js';
import { redactUrl } from '../storage/postgres.js';

/**
 * The hub's messages from hub process to hub process (docs/architecture.md "Many hub processes").
 * Every process that hears one acts on it — the one that published it included — so that a change
 * made through any process reaches an agent held by any process, by one path.
 */
export type BusMessage =
  /** these SKUs of the store changed (`all`: too many to name; the holder sends the store's whole inventory) */
  | { t: 'inventory'; store: string; skus: string[]; all?: boolean }
  /** the returns policy of the store changed ('default': of every store) */
  | { t: 'policy'; scope: string }
  /** the sync settings of the store changed ('default': of every store) */
  | { t: 'config'; scope: string }
  /** a rotated-in key waits for the store's agent */
  | { t: 'key.deliver'; store: string }
  /** a key of the store was revoked: the connections authenticated with it end */
  | { t: 'key.drop'; store: string; keyId: string }
  /** an agent said hello at process `from`: a process holding an older connection of the store gives it up (or says why not) */
  | { t: 'session.claim'; id: string; from: string; store: string; agent: string; run?: string; attempt?: number }
  /** the holder's answer to claim `id`, for process `to` */
  | { t: 'session.verdict'; id: string; to: string; from: string; store: string; verdict: RemoteVerdict['kind']; live?: string };

/** What a process holding the store's connection says to another process's claim. */
export type RemoteVerdict =
  /** it held none, or gave it up: the claim may go on */
  | { kind: 'free' }
  /** another copy of the agent's database answers on the connection it holds (DESIGN rule 9) */
  | { kind: 'duplicate'; live: string }
  /** it holds a later attempt of the same run of the agent: the claiming connection was given up */
  | { kind: 'superseded' };

export type BusHandler = (msg: BusMessage) => void;

export interface HubBus {
  /** This hub process, as the bus names it (unique per start). */
  readonly processId: string;
  /** True when other hub processes hear what this one publishes (PostgreSQL). */
  readonly shared: boolean;
  /**
   * Sends `msg` to every hub process, this one included. Inside a transaction it leaves with the
   * commit (and never when the transaction rolls back); outside one, at once.
   */
  publish(msg: BusMessage): void;
  /** Hears every message; returns the unsubscribe. */
  subscribe(handler: BusHandler): () => void;
  /** Runs `fn` each time the bus listens again after losing its connection (messages may have been missed meanwhile). */
  onResume(fn: () => void): void;
  /** Resolves once the bus hears messages (at once for the local bus). */
  readonly ready: Promise<void>;
  close(): Promise<void>;
}

/** PostgreSQL's NOTIFY payload must stay under 8000 bytes. */
export const MAX_PAYLOAD_BYTES = 7900;
/** SKUs named per inventory message: a changed list is cut to fit one payload. */
const INVENTORY_CHUNK_BYTES = 7000;
/** More chunks than this and the message says "the store's inventory changed" instead. */
const MAX_INVENTORY_CHUNKS = 16;

/** The inventory messages for `skus` of `store`: chunks that fit a payload, or one `all` message. */
export function inventoryMessages(store: string, skus: string[]): BusMessage[] {
  const out: BusMessage[] = [];
  let chunk: string[] = [];
  let bytes = 0;
  for (const sku of skus) {
    const b = Buffer.byteLength(JSON.stringify(sku)) + 1;
    if (chunk.length > 0 && bytes + b > INVENTORY_CHUNK_BYTES) {
      out.push({ t: 'inventory', store, skus: chunk });
      chunk = [];
      bytes = 0;
    }
    chunk.push(sku);
    bytes += b;
  }
  if (chunk.length > 0) out.push({ t: 'inventory', store, skus: chunk });
  if (out.length > MAX_INVENTORY_CHUNKS || bytes > INVENTORY_CHUNK_BYTES) return [{ t: 'inventory', store, skus: [], all: true }];
  return out;
}

class Handlers {
  private readonly list = new Set<BusHandler>();
  private readonly resumes: (() => void)[] = [];
  constructor(private readonly log: Logger) {}
  add(h: BusHandler): () => void {
    this.list.add(h);
    return () => this.list.delete(h);
  }
  onResume(fn: () => void): void {
    this.resumes.push(fn);
  }
  resumed(): void {
    for (const fn of this.resumes) {
      try {
        fn();
      } catch (err) {
        this.log.error({ err: (err as Error).message }, 'hub bus: catching up after a reconnection failed');
      }
    }
  }
  deliver(msg: BusMessage): void {
    for (const h of this.list) {
      try {
        h(msg);
      } catch (err) {
        this.log.error({ err: (err as Error).message, t: msg.t }, 'hub bus: a handler failed');
      }
    }
  }
}

/** One hub process (SQLite): messages are delivered in this process once the transaction commits. */
export class LocalBus implements HubBus {
  readonly processId = randomUUID();
  readonly shared = false;
  readonly ready = Promise.resolve();
  private readonly handlers: Handlers;
  private closed = false;

  constructor(private readonly storage: HubStorage, log: Logger) {
    this.handlers = new Handlers(log);
  }

  publish(msg: BusMessage): void {
    this.storage.afterCommit(() => {
      if (!this.closed) this.handlers.deliver(msg);
    });
  }

  subscribe(handler: BusHandler): () => void {
    return this.handlers.add(handler);
  }

  onResume(fn: () => void): void {
    this.handlers.onResume(fn);
  }

  async close(): Promise<void> {
    this.closed = true;
  }
}

export const BUS_CHANNEL = 'tillbridge_hub';

export interface PgBusOptions {
  /** First and largest wait before listening again after the connection was lost (default 100 ms, 5 s). */
  backoff?: { baseMs: number; capMs: number };
  channel?: string;
}

/**
 * Many hub processes on one PostgreSQL database: `publish` is `SELECT pg_notify(…)` through the
 * hub's storage — inside the caller's transaction when there is one, so PostgreSQL sends it only
 * if and when that transaction commits, atomic with the change — and a connection of its own
 * (node-postgres, asynchronous) LISTENs. When that connection is lost (PostgreSQL restarted) it
 * connects again with backoff, LISTENs again, and `onResume` hears it.
 */
export class PgBus implements HubBus {
  readonly processId = randomUUID();
  readonly shared = true;
  readonly ready: Promise<void>;
  private readonly handlers: Handlers;
  private readonly notify: Statement;
  private readonly channel: string;
  private readonly backoff: { baseMs: number; capMs: number };
  private client: pg.Client | undefined;
  private closed = false;
  private failures = 0;
  private listening = false;
  private everListened = false;
  private timer: NodeJS.Timeout | undefined;
  private markReady!: () => void;

  constructor(
    private readonly storage: HubStorage,
    private readonly url: string,
    private readonly log: Logger,
    opts: PgBusOptions = {},
  ) {
    if (storage.engine !== 'postgres') throw new Error('PgBus: the storage is not PostgreSQL');
    this.handlers = new Handlers(log);
    this.channel = opts.channel ?? BUS_CHANNEL;
    this.backoff = opts.backoff ?? { baseMs: 100, capMs: 5_000 };
    this.notify = storage.db.prepare('SELECT pg_notify(?, ?) AS sent');
    this.ready = new Promise((r) => (this.markReady = r));
    void this.connect();
  }

  /** Whether the LISTEN connection is up now. */
  get isListening(): boolean {
    return this.listening;
  }

  publish(msg: BusMessage): void {
    const json = JSON.stringify(msg);
    if (Buffer.byteLength(json) > MAX_PAYLOAD_BYTES) throw new Error(`hub bus: a "${msg.t}" message of ${Buffer.byteLength(json)} bytes is over the ${MAX_PAYLOAD_BYTES} a NOTIFY carries`);
    if (this.storage.inTransaction()) {
      // leaves with the commit; a failure here fails the transaction, as any of its statements would
      this.notify.get(this.channel, json);
      return;
    }
    try {
      this.notify.get(this.channel, json);
    } catch (err) {
      // the change was committed before: it stands; the agents catch up (resume, digest, reconnect)
      this.log.error({ err: (err as Error).message, t: msg.t }, 'hub bus: could not publish a message');
    }
  }

  subscribe(handler: BusHandler): () => void {
    return this.handlers.add(handler);
  }

  onResume(fn: () => void): void {
    this.handlers.onResume(fn);
  }

  private async connect(): Promise<void> {
    this.timer = undefined;
    if (this.closed) return;
    const u = new URL(this.url);
    if (!u.searchParams.has('application_name')) u.searchParams.set('application_name', 'tillbridge-hub-bus');
    const client = new pg.Client({ connectionString: u.toString(), keepAlive: true, connectionTimeoutMillis: 10_000 });
    this.client = client;
    let lost = false;
    const onLost = (err?: Error): void => {
      if (lost) return;
      lost = true;
      this.listening = false;
      client.removeAllListeners('notification');
      client.end().catch(() => {});
      if (this.closed) return;
      this.log.warn({ database: redactUrl(this.url), err: err?.message }, 'hub bus: the LISTEN connection was lost; connecting again');
      this.retry();
    };
    client.on('error', (err) => onLost(err));
    client.on('end', () => onLost());
    client.on('notification', (n) => {
      if (n.channel !== this.channel || !n.payload) return;
      let msg: BusMessage;
      try {
        msg = JSON.parse(n.payload) as BusMessage;
      } catch {
        this.log.warn({ bytes: n.payload.length }, 'hub bus: a message that is not JSON: ignored');
        return;
      }
      if (typeof msg?.t !== 'string') return;
      this.handlers.deliver(msg);
    });
    try {
      await client.connect();
      await client.query(`LISTEN ${this.channel}`);
    } catch (err) {
      onLost(err as Error);
      return;
    }
    if (this.closed) {
      await client.end().catch(() => {});
      return;
    }
    this.listening = true;
    this.failures = 0;
    const resumed = this.everListened;
    this.everListened = true;
    this.markReady();
    if (resumed) {
      this.log.info({ database: redactUrl(this.url) }, 'hub bus: listening again');
      this.handlers.resumed();
    }
  }

  private retry(): void {
    if (this.closed || this.timer) return;
    const ms = fullJitterDelay(this.failures++, this.backoff);
    this.timer = setTimeout(() => void this.connect(), Math.max(ms, 10));
    this.timer.unref();
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.markReady();
    const c = this.client;
    this.client = undefined;
    this.listening = false;
    if (c) {
      c.removeAllListeners('notification');
      await c.end().catch(() => {});
    }
  }
}

/** The bus for this storage: PostgreSQL's NOTIFY/LISTEN on a database, in-process on SQLite. */
export function openBus(storage: HubStorage, database: string | undefined, log: Logger, opts?: PgBusOptions): HubBus {
  return storage.engine === 'postgres' && database ? new PgBus(storage, database, log, opts) : new LocalBus(storage, log);
}
