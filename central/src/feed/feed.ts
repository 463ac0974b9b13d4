import { businessDayOf, TbCodes, TbError } from '@tillbridge/shared';
import { iso, type Clock } from '../domain/clock.js';
import type { HubStorage, Statement } from '../storage/index.js';
import { MultiRowInsert } from '../domain/multi-row.js';
import { WEBHOOK_EVENT_TYPES, type WebhookEvent, type WebhookEventType } from '../webhooks/events.js';

/**
 * What goes on the ERP feed: every validated transaction and its consequences — every hub event but a register's link
 * state and the webhook test (docs/erp-feed.md).
 */
export type FeedEventType = Exclude<WebhookEventType, 'terminal.status' | 'webhook.test'>;
export const FEED_EVENT_TYPES = WEBHOOK_EVENT_TYPES.filter(
  (t): t is FeedEventType => t !== 'terminal.status' && t !== 'webhook.test',
);

export function isFeedEventType(t: string): t is FeedEventType {
  return (FEED_EVENT_TYPES as readonly string[]).includes(t);
}

/** One entry of the feed, as consumers get it (JSON). */
export interface FeedEntry {
  /** Only grows, in commit order; a consumer resumes after the last it handled. */
  position: number;
  /** The event's id for ever: the consumer's dedupe key (also the webhook-id and AMQP message-id). */
  id: string;
  type: FeedEventType;
  store: string | null;
  /** The date in the store's time zone on which it happened (null: not a store's, e.g. a web order's stock) */
  businessDay: string | null;
  /** When it happened (ISO 8601 UTC) */
  at: string;
  /** When the hub committed it */
  recordedAt: string;
  data: Record<string, unknown>;
}

/** How far back on the feed (or in one store's entries) the newest entries of a type are looked for (Feed.latestOf). */
export const LATEST_LOOK_BACK = 20_000;

interface FeedRow {
  /** PostgreSQL's driver reads a bigint as text */
  position: number | string;
  id: string;
  type: string;
  store: string | null;
  business_day: string | null;
  at: string;
  recorded_at: string;
  data: string;
}

export interface FeedConsumer {
  name: string;
  /** the last position it acknowledged (0: none yet) */
  position: number;
  /** entries after its position (the feed's head minus its position) */
  lag: number;
  createdAt: string;
  updatedAt: string;
}

export interface FeedFilter {
  store?: string | undefined;
  types?: readonly string[] | undefined;
  /** only entries of this business day */
  day?: string | undefined;
}

/** A consumer's name: what an ERP job is known by (`erp-sales`, `amqp:tillbridge.feed`). */
export const CONSUMER_NAME = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$/;
export const MAX_READ = 1000;

/** When each kind of event happened, as its data says (else: when the hub recorded it). */
function occurredAt(e: WebhookEvent, now: string): string {
  const d = e.data;
  const pick = (k: string): string | undefined => (typeof d[k] === 'string' ? d[k] : undefined);
  const t = e.type.startsWith('return.') ? (pick('updatedAt') ?? pick('at')) : (pick('at') ?? pick('closedAt'));
  if (t === undefined) return now;
  const ms = Date.parse(t);
  return Number.isFinite(ms) ? new Date(ms).toISOString() : now;
}

/**
 * The ERP feed (docs/erp-feed.md): a durable, ordered log of every validated transaction and its
 * consequences, written by `take` INSIDE the transaction that made the change (a sink of
 * `HubEvents`), so what is on the feed is exactly what committed; read by position, by the pull
 * API, the broker relay and exports. Named consumers keep their cursor here (`ack`).
 */
export class Feed {
  private readonly insert: Statement;
  private readonly insertMany: MultiRowInsert;
  /** entries gathered by `together`, written when it returns */
  private gathered: unknown[][] | undefined;
  private readonly after: Statement;
  private readonly headQ: Statement;
  private readonly consumerQ: Statement;
  private readonly consumersQ: Statement;
  private readonly upsertConsumer: Statement;
  private readonly deleteConsumer: Statement;
  private readonly dayQ: Statement;
  private readonly storeTypeQ: Statement;
  private readonly typeQ: Statement;
  private readonly zones = new Map<string, string>();
  private waiters = new Set<() => void>();
  private wakePending: { local: boolean } | undefined;
  private readonly committedListeners: ((local: boolean) => void)[] = [];

  constructor(
    private readonly storage: HubStorage,
    private readonly clock: Clock,
    /** the store's time zone (sync setting `timeZone`); cached here until `zoneChanged` */
    private readonly zoneOf: (store: string) => string,
  ) {
    const db = storage.db;
    this.insert = db.prepare(
      `INSERT INTO feed (id, type, store, business_day, at, recorded_at, data) VALUES (?, ?, ?, ?, ?, ?, ?)`,
    );
    this.insertMany = new MultiRowInsert(
      db,
      `INSERT INTO feed (id, type, store, business_day, at, recorded_at, data)`,
      ['text', 'text', 'text', 'text', 'text', 'text', 'text'],
    );
    this.after = db.prepare(`SELECT * FROM feed WHERE position > ? ORDER BY position LIMIT ?`);
    this.headQ = db.prepare(`SELECT COALESCE(MAX(position), 0) AS head FROM feed`);
    this.consumerQ = db.prepare(`SELECT * FROM feed_consumers WHERE name = ?`);
    this.consumersQ = db.prepare(`SELECT * FROM feed_consumers ORDER BY name`);
    this.upsertConsumer = db.prepare(
      `INSERT INTO feed_consumers (name, position, created_at, updated_at) VALUES (?, ?, ?, ?)
       ON CONFLICT (name) DO UPDATE SET position = excluded.position, updated_at = excluded.updated_at`,
    );
    this.deleteConsumer = db.prepare(`DELETE FROM feed_consumers WHERE name = ?`);
    this.dayQ = db.prepare(`SELECT * FROM feed WHERE business_day = ? AND position > ? ORDER BY position LIMIT ?`);
    // the newest entries of one type among the feed's last LATEST_LOOK_BACK, or among one store's (its index)
    this.typeQ = db.prepare(`SELECT * FROM feed WHERE type = ? AND position > ? ORDER BY position DESC LIMIT ?`);
    this.storeTypeQ = db.prepare(
      `SELECT * FROM feed WHERE store = ? AND type = ? AND position >= COALESCE(
         (SELECT position FROM feed WHERE store = ? ORDER BY position DESC LIMIT 1 OFFSET ${LATEST_LOOK_BACK - 1}), 0)
       ORDER BY position DESC LIMIT ?`,
    );
  }

  /** Whether the feed takes this event (a `HubEvents` sink). */
  wants(type: WebhookEventType): boolean {
    return isFeedEventType(type);
  }

  /** Appends the event. Call inside the transaction that made the change. */
  take(e: WebhookEvent): void {
    if (!isFeedEventType(e.type)) return;
    const now = iso(this.clock.now());
    const at = occurredAt(e, now);
    const day =
      typeof e.data.businessDay === 'string'
        ? e.data.businessDay
        : e.store
          ? businessDayOf(at, this.zone(e.store))
          : null;
    const row = [e.id, e.type, e.store, day, at, now, JSON.stringify(e.data)];
    if (this.gathered) this.gathered.push(row);
    else {
      this.insert.run(...row);
      this.storage.afterCommit(() => this.committed(true));
    }
  }

  /**
   * Runs `fn` with the entries it takes gathered and written together in a few multi-row
   * statements when it returns (in order, positions as one by one), and none when it throws — the
   * group commit's path, where a round trip per entry would cost. Nothing inside `fn` may roll a
   * savepoint back and go on (its entries would be written all the same). Call inside a transaction.
   */
  together<T>(fn: () => T): T {
    if (this.gathered) return fn();
    const rows: unknown[][] = (this.gathered = []);
    let out: T;
    try {
      out = fn();
    } finally {
      this.gathered = undefined;
    }
    if (rows.length > 0) {
      this.insertMany.run(rows);
      this.storage.afterCommit(() => this.committed(true));
    }
    return out;
  }

  /** The store's zone changed (sync settings): forget the cached one. */
  zoneChanged(scope: string): void {
    if (scope === 'default') this.zones.clear();
    else this.zones.delete(scope);
  }

  private zone(store: string): string {
    let z = this.zones.get(store);
    if (z === undefined) {
      z = this.zoneOf(store);
      if (this.zones.size > 100_000) this.zones.clear();
      this.zones.set(store, z);
    }
    return z;
  }

  /** The newest position (0: the feed is empty). */
  head(): number {
    return Number((this.headQ.get() as { head: number | string }).head);
  }

  /**
   * Up to `limit` entries after `position`, oldest first, those matching `filter`. Reads at most
   * MAX_READ rows past `position` per call; `next` is where to go on from (past entries the filter
   * skipped too), so a filtered reader never reads the same rows twice.
   */
  read(position: number, limit: number, filter: FeedFilter = {}): { entries: FeedEntry[]; next: number } {
    const n = Math.max(1, Math.min(MAX_READ, Math.floor(limit)));
    const unfiltered = !filter.store && !filter.types?.length && !filter.day;
    const rows = (
      filter.day
        ? this.dayQ.all(filter.day, position, unfiltered ? n : MAX_READ)
        : this.after.all(position, unfiltered ? n : MAX_READ)
    ) as FeedRow[];
    const entries: FeedEntry[] = [];
    let next = position;
    for (const r of rows) {
      const e = toEntry(r);
      if (entries.length >= n) break;
      next = e.position;
      if (filter.store && e.store !== filter.store) continue;
      if (filter.types?.length && !filter.types.includes(e.type)) continue;
      entries.push(e);
    }
    return { entries, next };
  }

  /**
   * The newest entries of `types`, newest first, at most `limit` of them, among the feed's last LATEST_LOOK_BACK
   * entries — or, given `store`, among that store's last LATEST_LOOK_BACK (read by the feed's index by store: whatever
   * the other stores did meanwhile).
   */
  latestOf(types: readonly string[], limit: number, store?: string): FeedEntry[] {
    const n = Math.max(1, Math.min(MAX_READ, Math.floor(limit)));
    const after = store === undefined ? Math.max(0, this.head() - LATEST_LOOK_BACK) : 0;
    const rows = (type: string): FeedRow[] =>
      (store === undefined ? this.typeQ.all(type, after, n) : this.storeTypeQ.all(store, type, store, n)) as FeedRow[];
    return types
      .flatMap((type) => rows(type).map(toEntry))
      .sort((a, b) => b.position - a.position)
      .slice(0, n);
  }

  /**
   * Resolves when an entry past `position` is committed (by this process, or by another one the
   * cluster tells of: `committed`), or after `timeoutMs`, or when `signal` aborts.
   */
  waitPast(position: number, timeoutMs: number, signal?: AbortSignal): Promise<void> {
    if (this.head() > position) return Promise.resolve();
    return new Promise((resolve) => {
      const done = (): void => {
        this.waiters.delete(check);
        clearTimeout(timer);
        clearInterval(poll);
        signal?.removeEventListener('abort', done);
        resolve();
      };
      const check = (): void => {
        if (!this.storage.isOpen() || this.head() > position) done();
      };
      this.waiters.add(check);
      const timer = setTimeout(done, Math.max(0, timeoutMs));
      // a message between processes may be lost (the bus reconnecting): look once a second anyway
      const poll = setInterval(check, 1000);
      signal?.addEventListener('abort', done, { once: true });
    });
  }

  /**
   * Entries were committed — by this process (`local`), or by another hub process the cluster
   * heard of: wake the long polls and the listeners (once for all the commits of one tick).
   */
  committed(local: boolean): void {
    if (this.wakePending !== undefined) {
      this.wakePending.local ||= local;
      return;
    }
    const pending = (this.wakePending = { local });
    queueMicrotask(() => {
      this.wakePending = undefined;
      for (const w of [...this.waiters]) w();
      for (const l of this.committedListeners) l(pending.local);
    });
  }

  /** Hears commits that put entries on the feed: this process's (`local`) and those the cluster tells of. */
  onCommitted(listener: (local: boolean) => void): void {
    this.committedListeners.push(listener);
  }

  /** Long polls waiting now (for metrics and shutdown). */
  waiting(): number {
    return this.waiters.size;
  }

  // ---- named consumers

  consumer(name: string): FeedConsumer | undefined {
    const r = this.consumerQ.get(name) as
      { name: string; position: number | string; created_at: string; updated_at: string } | undefined;
    if (!r) return undefined;
    return this.view(r, this.head());
  }

  consumers(): FeedConsumer[] {
    const head = this.head();
    return (
      this.consumersQ.all() as { name: string; position: number | string; created_at: string; updated_at: string }[]
    ).map((r) => this.view(r, head));
  }

  /**
   * The consumer has handled everything up to `position`: its cursor moves there (created at the
   * first ack). Never past the head; an ack behind the cursor is refused unless `rewind` (replay).
   * Call inside a transaction with its audit entry, or alone.
   */
  ack(name: string, position: number, opts: { rewind?: boolean } = {}): FeedConsumer {
    if (!CONSUMER_NAME.test(name))
      throw new TbError(
        TbCodes.INVALID,
        `consumer: expected a name of letters, digits and . _ : - (at most 64), got ${JSON.stringify(name)}`,
      );
    if (!Number.isSafeInteger(position) || position < 0)
      throw new TbError(TbCodes.INVALID, `position: expected a whole number 0 or more, got ${String(position)}`);
    const head = this.head();
    if (position > head) throw new TbError(TbCodes.INVALID, `position ${position} is past the feed's head (${head})`);
    const prior = this.consumer(name);
    if (prior && position < prior.position && !opts.rewind) {
      throw new TbError(
        TbCodes.CONFLICT,
        `consumer ${name} is at ${prior.position}: an ack of ${position} would go back (rewind to replay)`,
      );
    }
    const now = iso(this.clock.now());
    this.upsertConsumer.run(name, position, prior?.createdAt ?? now, now);
    return { name, position, lag: head - position, createdAt: prior?.createdAt ?? now, updatedAt: now };
  }

  /** Forgets a consumer's cursor; false when there was none. */
  removeConsumer(name: string): boolean {
    return this.deleteConsumer.run(name).changes > 0;
  }

  private view(
    r: { name: string; position: number | string; created_at: string; updated_at: string },
    head: number,
  ): FeedConsumer {
    const position = Number(r.position);
    return {
      name: r.name,
      position,
      lag: Math.max(0, head - position),
      createdAt: r.created_at,
      updatedAt: r.updated_at,
    };
  }
}

function toEntry(r: FeedRow): FeedEntry {
  return {
    position: Number(r.position),
    id: r.id,
    type: r.type as FeedEventType,
    store: r.store,
    businessDay: r.business_day,
    at: r.at,
    recordedAt: r.recorded_at,
    data: JSON.parse(r.data) as Record<string, unknown>,
  };
}
