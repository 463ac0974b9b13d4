import amqp from 'amqplib';
import type { ChannelModel, ConfirmChannel, Message } from 'amqplib';
import {
  fullJitterDelay,
  maskUrlPassword,
  parseUrl,
  settleOnce,
  TbCodes,
  TbError,
  type Logger,
} from '@tillbridge/shared';
import { iso, type Clock } from '../domain/clock.js';
import type { HubStorage, Statement } from '../storage/index.js';
import { shortId } from '../webhooks/repo.js';
import type { Feed, FeedEntry } from './feed.js';

export const DEFAULT_EXCHANGE = 'tillbridge.feed';
export const AMQP_URL_ENV = 'TILLBRIDGE_AMQP_URL';

export interface AmqpRelayOptions {
  /** amqp:// or amqps:// URL of the broker (its password is never logged nor shown) */
  url: string;
  /** The durable topic exchange it publishes to (declared by the relay); default `tillbridge.feed`. */
  exchange?: string | undefined;
  /** Entries published before waiting for the broker's confirms (default 500; at most the feed's MAX_READ). */
  batchSize?: number;
  /** How often it looks for entries other hub processes committed (default 1000 ms). */
  pollMs?: number;
  /** How long the lease lasts unless renewed (default 15 s); the relay renews it at each batch and poll. */
  leaseMs?: number;
  /** How long to wait for a batch's confirms before giving the connection up (default 10 s). */
  confirmTimeoutMs?: number;
  /** Full-jitter backoff after a failure (default 200 ms doubling up to 30 s). */
  backoff?: { baseMs: number; capMs: number; random?: () => number };
  /** Name of this relay on the lease (default: a random one per relay). */
  owner?: string;
  log: Logger;
  clock: Clock;
}

/** What `tillbridge-hub status` and the metrics say of the relay. */
export interface RelayStatus {
  /** the broker, without its password */
  broker: string;
  exchange: string;
  /** its cursor's name in feed_consumers */
  consumer: string;
  /** this process holds the lease (it is the one relaying) */
  relaying: boolean;
  /** who holds the lease now, and until when (another hub process, perhaps) */
  lease: { holder: string; until: string } | null;
  connected: boolean;
  /** the cursor: the last position the broker confirmed */
  position: number;
  head: number;
  /** the feed's head minus the cursor */
  lag: number;
  /** entries this process published and had confirmed since it started */
  relayed: number;
  lastError: { message: string; at: string } | null;
}

/**
 * A broker URL for messages: the password replaced. Refused (TB_CONFIG naming `option`) unless it
 * is an amqp:// or amqps:// URL with a host.
 */
export function checkAmqpUrl(url: string, option: string): string {
  const u = parseUrl(url);
  if (!u)
    throw new TbError(
      TbCodes.CONFIG,
      `${option}: expected a URL like amqp://user:password@host:5672/vhost, got something that is not a URL`,
    );
  if (u.protocol !== 'amqp:' && u.protocol !== 'amqps:')
    throw new TbError(TbCodes.CONFIG, `${option}: expected an amqp:// or amqps:// URL, got ${u.protocol}//…`);
  if (!u.hostname) throw new TbError(TbCodes.CONFIG, `${option}: the URL names no host`);
  return redactAmqpUrl(url);
}

export function redactAmqpUrl(url: string): string {
  return maskUrlPassword(url, 'amqp://…');
}

/**
 * The exchange's name: what AMQP allows (letters, digits, - _ . :), at most 120 so that `amqp:` + it is a consumer
 * name.
 */
export function checkExchange(name: string, option: string): string {
  if (!/^[A-Za-z0-9][A-Za-z0-9._:-]{0,58}$/.test(name))
    throw new TbError(
      TbCodes.CONFIG,
      `${option}: expected an exchange name of letters, digits and . _ : - (at most 59), got ${JSON.stringify(name)}`,
    );
  return name;
}

/** `<type>.<store or ->`: consumers bind by event type and store (`sale.recorded.*`, `#.S002`). */
export function routingKeyOf(e: Pick<FeedEntry, 'type' | 'store'>): string {
  return `${e.type}.${e.store ? e.store.replace(/[.#*]/g, '_') : '-'}`;
}

/**
 * Relays the committed ERP feed to a RabbitMQ topic exchange (docs/erp-feed.md#to-a-message-broker-rabbitmq): reads the
 * entries after its cursor (`amqp:<exchange>` in feed_consumers), publishes a batch on a confirm
 * channel (mandatory, persistent), waits for the broker's confirms, and only then moves the cursor
 * (one transaction, with the lease renewed in it). A nack, a return (unroutable), a lost
 * connection or a timeout: nothing moves, and the batch is published again after a full-jitter
 * backoff — at least once; a crash between the confirms and the cursor's commit re-publishes at
 * most that batch, which consumers drop by messageId.
 *
 * Many hub processes on one database: only the holder of the lease `amqp:<exchange>` relays.
 */
export class AmqpRelay {
  readonly exchange: string;
  readonly consumerName: string;
  readonly broker: string;
  private readonly owner: string;
  private readonly batchSize: number;
  private readonly pollMs: number;
  private readonly leaseMs: number;
  private readonly confirmTimeoutMs: number;
  private readonly backoff: { baseMs: number; capMs: number; random?: () => number };
  private readonly takeLeaseQ: Statement;
  private readonly leaseQ: Statement;
  private readonly releaseQ: Statement;
  private conn: ChannelModel | undefined;
  private channel: ConfirmChannel | undefined;
  private returned = new Set<string>();
  private relayedCount = 0;
  private holding = false;
  /** until when this process's lease runs (its own clock), while `holding` */
  private leaseUntil = 0;
  private lastError: { message: string; at: string } | null = null;
  private readonly stopper = new AbortController();
  private wakeUp: (() => void) | undefined;
  private woken = false;
  private loop: Promise<void> | undefined;
  private readonly relayedListeners: ((n: number) => void)[] = [];

  constructor(
    private readonly storage: HubStorage,
    private readonly feed: Feed,
    private readonly opts: AmqpRelayOptions,
  ) {
    this.broker = checkAmqpUrl(opts.url, 'the broker URL');
    this.exchange = checkExchange(opts.exchange ?? DEFAULT_EXCHANGE, 'the exchange');
    this.consumerName = `amqp:${this.exchange}`;
    this.owner = opts.owner ?? shortId('relay', 10);
    this.batchSize = Math.max(1, Math.min(1000, opts.batchSize ?? 500));
    this.pollMs = opts.pollMs ?? 1000;
    this.leaseMs = opts.leaseMs ?? 15_000;
    this.confirmTimeoutMs = opts.confirmTimeoutMs ?? 10_000;
    this.backoff = opts.backoff ?? { baseMs: 200, capMs: 30_000 };
    const db = storage.db;
    // taken when free, run out, or already ours (then renewed)
    this.takeLeaseQ = db.prepare(
      `INSERT INTO feed_relay_leases (name, leased_by, lease_until) VALUES (?, ?, ?)
       ON CONFLICT (name) DO UPDATE SET leased_by = excluded.leased_by, lease_until = excluded.lease_until
       WHERE feed_relay_leases.leased_by = excluded.leased_by OR feed_relay_leases.lease_until <= ?`,
    );
    this.leaseQ = db.prepare(`SELECT leased_by, lease_until FROM feed_relay_leases WHERE name = ?`);
    this.releaseQ = db.prepare(`DELETE FROM feed_relay_leases WHERE name = ? AND leased_by = ?`);
    feed.onCommitted(() => this.wake());
  }

  /** Hears each confirmed batch (its size): the metrics count them. */
  onRelayed(listener: (n: number) => void): void {
    this.relayedListeners.push(listener);
  }

  start(): void {
    this.loop ??= this.run();
  }

  /**
   * Stops: the batch in flight gets up to `limitMs` for its confirms (and then its cursor moves),
   * the connection is closed and the lease given up for another process to take at once.
   */
  async stop(limitMs = 5000): Promise<void> {
    this.stopper.abort();
    this.wake();
    if (this.loop) {
      let t: NodeJS.Timeout | undefined;
      await Promise.race([this.loop, new Promise<void>((r) => (t = setTimeout(r, limitMs)))]);
      clearTimeout(t);
    }
    await this.disconnect();
    if (this.storage.isOpen() && this.holding) {
      try {
        this.storage.tx(() => this.releaseQ.run(this.consumerName, this.owner));
      } catch (err) {
        this.opts.log.warn({ err }, 'could not give up the feed relay lease (it runs out by itself)');
      }
      this.holding = false;
    }
  }

  status(): RelayStatus {
    const position = this.feed.consumer(this.consumerName)?.position ?? 0;
    const head = this.feed.head();
    const l = this.leaseQ.get(this.consumerName) as { leased_by: string; lease_until: string } | undefined;
    return {
      broker: this.broker,
      exchange: this.exchange,
      consumer: this.consumerName,
      relaying: this.holding,
      lease: l ? { holder: l.leased_by, until: l.lease_until } : null,
      connected: this.channel !== undefined,
      position,
      head,
      lag: Math.max(0, head - position),
      relayed: this.relayedCount,
      lastError: this.lastError,
    };
  }

  get connected(): boolean {
    return this.channel !== undefined;
  }

  get relayed(): number {
    return this.relayedCount;
  }

  private wake(): void {
    this.woken = true;
    this.wakeUp?.();
  }

  /** Sleeps `ms`, or until an entry is committed here, or until stopped. */
  private pause(ms: number): Promise<void> {
    if (this.woken || this.stopper.signal.aborted) {
      this.woken = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const t = setTimeout(done, ms);
      function done(): void {
        clearTimeout(t);
        resolve();
      }
      this.wakeUp = () => {
        this.wakeUp = undefined;
        this.woken = false;
        done();
      };
    });
  }

  private async run(): Promise<void> {
    let attempt = 0;
    while (!this.stopper.signal.aborted) {
      try {
        if (!this.storage.isOpen()) return;
        if (!this.takeLease()) {
          // another process relays: no connection held here
          await this.disconnect();
          await this.pause(Math.min(this.pollMs, this.leaseMs / 3));
          continue;
        }
        const n = await this.relayBatch();
        attempt = 0;
        if (n === 0) await this.pause(Math.min(this.pollMs, this.leaseMs / 3));
      } catch (err) {
        if (this.stopping()) break;
        this.lastError = { message: this.scrub(messageOf(err)), at: iso(this.opts.clock.now()) };
        this.opts.log.warn(
          { err: this.scrubbed(err), exchange: this.exchange, attempt },
          'feed relay: batch not confirmed; publishing it again after a backoff',
        );
        await this.disconnect();
        await new Promise<void>((resolve) => {
          const t = setTimeout(finish, fullJitterDelay(attempt, this.backoff));
          const signal = this.stopper.signal;
          function finish(): void {
            clearTimeout(t);
            signal.removeEventListener('abort', finish);
            resolve();
          }
          signal.addEventListener('abort', finish, { once: true });
        });
        attempt++;
      }
    }
  }

  /**
   * Takes or renews the lease; true while this process holds it. A write only when it is worth
   * one: renewed once half of it has run, taken when the holder's has run out (a process that
   * does not relay reads once a poll, and writes nothing while another holds it).
   */
  private takeLease(): boolean {
    const now = this.opts.clock.now();
    if (this.holding && now < this.leaseUntil - this.leaseMs / 2) return true;
    if (!this.holding) {
      const l = this.leaseQ.get(this.consumerName) as { leased_by: string; lease_until: string } | undefined;
      if (l && l.leased_by !== this.owner && l.lease_until > iso(now)) return false;
    }
    const got = this.storage.tx(
      () => this.takeLeaseQ.run(this.consumerName, this.owner, iso(now + this.leaseMs), iso(now)).changes > 0,
    );
    if (got) this.leaseUntil = now + this.leaseMs;
    if (got !== this.holding)
      this.opts.log.info(
        { exchange: this.exchange, owner: this.owner },
        got ? 'feed relay: lease taken, relaying' : 'feed relay: another hub process holds the lease',
      );
    this.holding = got;
    return got;
  }

  private async ensureChannel(): Promise<ConfirmChannel> {
    if (this.channel) return this.channel;
    const conn = await amqp.connect(this.opts.url, { timeout: 10_000 });
    if (this.stopper.signal.aborted) {
      await conn.close().catch(() => undefined);
      throw new Error('stopping');
    }
    const dropped = (err?: Error): void => {
      if (this.conn !== conn) return;
      this.conn = undefined;
      this.channel = undefined;
      if (err && !this.stopper.signal.aborted)
        this.opts.log.warn({ err: this.scrubbed(err), broker: this.broker }, 'feed relay: broker connection lost');
    };
    conn.on('error', (err: Error) => dropped(err));
    conn.on('close', (err?: Error) => dropped(err));
    this.conn = conn;
    try {
      const ch = await conn.createConfirmChannel();
      ch.on('error', () => undefined); // the close that follows says it
      ch.on('close', () => {
        if (this.channel === ch) this.channel = undefined;
      });
      ch.on('return', (m: Message) => {
        const id = m.properties.messageId as string | undefined;
        if (id) this.returned.add(id);
      });
      await ch.assertExchange(this.exchange, 'topic', { durable: true });
      this.channel = ch;
      this.opts.log.info({ broker: this.broker, exchange: this.exchange }, 'feed relay: connected to the broker');
      return ch;
    } catch (err) {
      await this.disconnect();
      throw err;
    }
  }

  private async disconnect(): Promise<void> {
    const conn = this.conn;
    this.conn = undefined;
    this.channel = undefined;
    if (conn) await conn.close().catch(() => undefined);
  }

  /** Publishes the entries after the cursor (one batch), waits for the confirms, moves the cursor. */
  private async relayBatch(): Promise<number> {
    const from = this.feed.consumer(this.consumerName)?.position ?? 0;
    const { entries } = this.feed.read(from, this.batchSize);
    const lastEntry = entries.at(-1);
    if (lastEntry === undefined) {
      // a quiet feed still checks the broker is there (status: connected)
      await this.ensureChannel();
      return 0;
    }
    const ch = await this.ensureChannel();
    this.returned.clear();
    for (const e of entries) {
      const body = Buffer.from(JSON.stringify(e));
      // the channel buffers what the socket cannot take yet; the confirms wait for all of it
      ch.publish(this.exchange, routingKeyOf(e), body, {
        persistent: true,
        mandatory: true,
        messageId: e.id,
        type: e.type,
        timestamp: Math.floor(Date.parse(e.recordedAt) / 1000),
        contentType: 'application/json',
        headers: {
          'x-tillbridge-position': e.position,
          'x-tillbridge-store': e.store ?? '',
          'x-tillbridge-business-day': e.businessDay ?? '',
        },
      });
    }
    await this.confirms(ch);
    if (this.returned.size > 0) {
      const n = this.returned.size;
      this.returned.clear();
      throw new Error(
        `${n} of ${entries.length} message(s) came back unroutable from exchange ${this.exchange}: ` +
          `bind a queue that takes every routing key (e.g. "#") or give the exchange an alternate exchange`,
      );
    }
    const last = lastEntry.position;
    // the cursor moves only with the lease still ours (renewed in the same transaction)
    const now = this.opts.clock.now();
    const moved = this.storage.tx(() => {
      if (this.takeLeaseQ.run(this.consumerName, this.owner, iso(now + this.leaseMs), iso(now)).changes === 0)
        return false;
      this.feed.ack(this.consumerName, last);
      return true;
    });
    if (moved) this.leaseUntil = now + this.leaseMs;
    if (!moved) {
      this.holding = false;
      this.opts.log.warn(
        { exchange: this.exchange },
        'feed relay: the lease ran out while the batch was confirmed; another hub process relays from the cursor',
      );
      return entries.length;
    }
    this.relayedCount += entries.length;
    for (const l of this.relayedListeners) l(entries.length);
    return entries.length;
  }

  /** The broker's confirms for everything published on `ch`; rejects on a nack, a close or the timeout. */
  private confirms(ch: ConfirmChannel): Promise<void> {
    return settleOnce<undefined>((resolve, reject) => {
      const onClose = (): void => reject(new Error('the broker channel closed before confirming the batch'));
      const t = setTimeout(
        () => reject(new Error(`no confirms from the broker within ${this.confirmTimeoutMs} ms`)),
        this.confirmTimeoutMs,
      );
      ch.once('close', onClose);
      ch.waitForConfirms().then(
        () => resolve(undefined),
        (err: unknown) => reject(new Error(`the broker did not confirm the batch (nack): ${messageOf(err)}`)),
      );
      return () => {
        clearTimeout(t);
        ch.removeListener('close', onClose);
      };
    });
  }

  /** Read afresh each time: `stop()` may abort while a batch is awaited. */
  private stopping(): boolean {
    return this.stopper.signal.aborted;
  }

  private scrub(s: string): string {
    try {
      const pw = new URL(this.opts.url).password;
      return pw ? s.split(pw).join('***').split(decodeURIComponent(pw)).join('***') : s;
    } catch {
      return s;
    }
  }

  private scrubbed(err: unknown): unknown {
    if (!(err instanceof Error)) return this.scrub(String(err));
    const e = new Error(this.scrub(err.message));
    e.name = err.name;
    if (err.stack) e.stack = this.scrub(err.stack);
    return e;
  }
}

/** What went wrong: an error's message, or what was thrown as text. */
function messageOf(err: unknown): string {
  const message = (err as { message?: unknown } | null | undefined)?.message;
  return typeof message === 'string' ? message : String(err);
}
