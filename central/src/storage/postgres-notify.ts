import pg from 'pg';
import { fullJitterDelay, type Logger } from '@tillbridge/shared';
import {
  checkChannel,
  deliverSafely,
  MAX_NOTIFY_PAYLOAD_BYTES,
  type Listener,
  type ListenOptions,
  type Notifier,
} from './notify.js';
import type { SqlDb, Statement } from './sql.js';

/**
 * Many processes on one PostgreSQL database: `notify` is `SELECT pg_notify(…)` through the
 * storage's own connection — inside the caller's transaction when there is one, so PostgreSQL
 * sends it only if and when that transaction commits, atomic with the change — and each listener
 * LISTENs on a connection of its own (node-postgres, asynchronous). When that connection is lost
 * (PostgreSQL restarted) it connects again with backoff, LISTENs again, and says so (`onResume`).
 */
export class PgNotifier implements Notifier {
  readonly shared = true;
  readonly maxPayloadBytes = MAX_NOTIFY_PAYLOAD_BYTES;
  private statement: Statement | undefined;

  constructor(
    private readonly db: SqlDb,
    private readonly url: string,
    /** the URL without its password, for logs */
    private readonly location: string,
    private readonly log: Logger | undefined,
  ) {}

  notify(channel: string, payload: string): void {
    checkChannel(channel);
    const bytes = Buffer.byteLength(payload);
    if (bytes > this.maxPayloadBytes)
      throw new Error(
        `notify ${channel}: a payload of ${bytes} bytes is over the ${this.maxPayloadBytes} a NOTIFY carries`,
      );
    this.statement ??= this.db.prepare('SELECT pg_notify(?, ?) AS sent');
    this.statement.get(channel, payload);
  }

  listen(channel: string, onMessage: (payload: string) => void, opts: ListenOptions = {}): Listener {
    return new PgListener(this.url, this.location, checkChannel(channel), onMessage, {
      ...opts,
      log: opts.log ?? this.log,
    });
  }
}

class PgListener implements Listener {
  readonly ready: Promise<void>;
  private client: pg.Client | undefined;
  private closed = false;
  private failures = 0;
  private listening_ = false;
  private everListened = false;
  private timer: NodeJS.Timeout | undefined;
  private markReady!: () => void;
  private readonly backoff: { baseMs: number; capMs: number };

  constructor(
    private readonly url: string,
    private readonly location: string,
    private readonly channel: string,
    private readonly onMessage: (payload: string) => void,
    private readonly opts: ListenOptions,
  ) {
    this.backoff = opts.backoff ?? { baseMs: 100, capMs: 5_000 };
    this.ready = new Promise((r) => (this.markReady = r));
    void this.connect();
  }

  get listening(): boolean {
    return this.listening_;
  }

  private async connect(): Promise<void> {
    this.timer = undefined;
    if (this.closed) return;
    const log = this.opts.log;
    const u = new URL(this.url);
    if (!u.searchParams.has('application_name')) u.searchParams.set('application_name', 'tillbridge-hub-bus');
    const client = new pg.Client({ connectionString: u.toString(), keepAlive: true, connectionTimeoutMillis: 10_000 });
    this.client = client;
    let lost = false;
    const onLost = (err?: Error): void => {
      if (lost) return;
      lost = true;
      this.listening_ = false;
      client.removeAllListeners('notification');
      client.end().catch(() => undefined);
      if (this.closed) return;
      log?.warn(
        { database: this.location, channel: this.channel, err: err?.message },
        'the LISTEN connection was lost; connecting again',
      );
      this.retry();
    };
    client.on('error', (err) => onLost(err));
    client.on('end', () => onLost());
    client.on('notification', (n) => {
      if (n.channel !== this.channel || n.payload === undefined) return;
      deliverSafely(this.onMessage, n.payload, this.channel, log);
    });
    try {
      await client.connect();
      await client.query(`LISTEN ${this.channel}`);
    } catch (err) {
      onLost(err as Error);
      return;
    }
    // closed while connecting
    if (this.isClosed()) {
      await client.end().catch(() => undefined);
      return;
    }
    this.listening_ = true;
    this.failures = 0;
    const resumed = this.everListened;
    this.everListened = true;
    this.markReady();
    if (resumed) {
      log?.info({ database: this.location, channel: this.channel }, 'listening again');
      try {
        this.opts.onResume?.();
      } catch (err) {
        log?.error({ err, channel: this.channel }, 'catching up after a reconnection failed');
      }
    }
  }

  /** `closed` read afresh: `close()` may run while `connect()` awaits. */
  private isClosed(): boolean {
    return this.closed;
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
    this.listening_ = false;
    if (c) {
      c.removeAllListeners('notification');
      await c.end().catch(() => undefined);
    }
  }
}
