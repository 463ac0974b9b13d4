import type { Statement } from 'better-sqlite3';
import { newId, systemClock } from '@tillbridge/shared';
import { withoutFsync, type Db } from '../db/agent-db.js';
import type { EventOutbox } from '../core/ports.js';
import { Journal } from './journal.js';

export interface OutboxRow {
  seq: number;
  event_id: string;
  kind: string;
  register: string;
  at: string;
  created_ms: number;
  body: string;
}

export interface OutboxStats {
  depth: number;
  oldestAgeMs: number;
}

/**
 * The durable queue of events owed to the hub. `append` must run inside the caller's
 * transaction, together with whatever else makes the register's message durable; the row
 * leaves only through `deleteUpTo`, after the hub has acked that seq.
 */
export class Outbox implements EventOutbox {
  private readonly insert: Statement;
  private readonly selectAfter: Statement;
  private readonly del: Statement;
  private readonly count: Statement;
  private readonly maxSeq: Statement;
  private readonly newestNotSale: Statement;
  private readonly newestOfRef: Statement;
  private readonly lastGiven: Statement;
  private readonly reinsert: Statement;
  private readonly listeners = new Set<() => void>();
  /** What was forwarded, written with each row (same transaction) and kept after the ack. */
  readonly journal: Journal;

  /**
   * `now`: the agent's clock (events' `at`, their age). `zone`: the store's time zone now (the
   * live sync setting), for the business day each event is journalled under.
   */
  constructor(
    private readonly db: Db,
    private readonly now: () => number = () => systemClock.now(),
    zone: () => string = () => 'UTC',
  ) {
    this.journal = new Journal(db, zone);
    this.insert = db.prepare(
      `INSERT INTO outbox (event_id, kind, register, at, created_ms, body) VALUES (?, ?, ?, ?, ?, ?)`,
    );
    // not an upsert: `ON CONFLICT DO NOTHING` would still take a seq from AUTOINCREMENT for an event it leaves as it is
    this.reinsert = db.prepare(
      `INSERT INTO outbox (event_id, kind, register, at, created_ms, body)
       SELECT @id, @kind, @register, @at, @ms, @body WHERE NOT EXISTS (SELECT 1 FROM outbox WHERE event_id = @id)`,
    );
    this.selectAfter = db.prepare(`SELECT * FROM outbox WHERE seq > ? ORDER BY seq LIMIT ?`);
    this.del = db.prepare(`DELETE FROM outbox WHERE seq <= ?`);
    this.maxSeq = db.prepare(`SELECT COALESCE(MAX(seq), 0) AS s FROM outbox`);
    // both read an index (migration 6): neither scans a backlog of sales
    this.newestNotSale = db.prepare(`SELECT COALESCE(MAX(seq), 0) AS s FROM outbox WHERE kind <> 'sale'`);
    // a sale's ref is its receipt, a return event's its authorization (journal.ts)
    this.newestOfRef = db.prepare(
      `SELECT COALESCE(MAX(o.seq), 0) AS s FROM journal j JOIN outbox o ON o.event_id = j.event_id
       WHERE j.ref = ? AND (j.kind = 'sale') = ?`,
    );
    this.lastGiven = db.prepare(`SELECT seq FROM sqlite_sequence WHERE name = 'outbox'`);
    this.count = db.prepare(`SELECT COUNT(*) AS n, MIN(created_ms) AS oldest FROM outbox`);
  }

  /**
   * Adds an event, and its journal entry; call inside a transaction (both are written or
   * neither). Listeners hear of it after the current tick.
   */
  append(kind: string, register: string, body: unknown): { seq: number; eventId: string } {
    const eventId = newId();
    const ms = this.now();
    const at = new Date(ms).toISOString();
    const json = JSON.stringify(body);
    const info = this.insert.run(eventId, kind, register, at, ms, json);
    this.journal.record(eventId, kind, register, at, ms, body, json);
    this.notify();
    return { seq: Number(info.lastInsertRowid), eventId };
  }

  /**
   * The hub lacks events of a register's business day: every journalled event of it goes back
   * into the outbox under its original id, time and body (the hub skips by id what it has). One
   * still waiting in the outbox is left as it is. Runs in its own transaction; idempotent.
   */
  resend(register: string, businessDay: string): { requeued: number; waiting: number } {
    const rows = this.journal.day(register, businessDay);
    const ms = this.now();
    let requeued = 0;
    this.db
      .transaction(() => {
        for (const r of rows) {
          const { event_id: id, kind, register: reg, at, body } = r;
          requeued += this.reinsert.run({ id, kind, register: reg, at, ms, body }).changes;
        }
      })
      .immediate();
    if (requeued > 0) this.notify();
    return { requeued, waiting: rows.length - requeued };
  }

  private notify(): void {
    if (this.listeners.size > 0) setImmediate(() => this.listeners.forEach((l) => l()));
  }

  after(seq: number, limit: number): OutboxRow[] {
    return this.selectAfter.all(seq, limit) as OutboxRow[];
  }

  /** The newest seq still queued (0 when the outbox is empty). */
  lastSeq(): number {
    return (this.maxSeq.get() as { s: number }).s;
  }

  /**
   * The newest seq still queued among: the sale of `receipt`, the events of the returns `authorizations`, and, when
   * `everyNotSale`, every event that is not a sale (0 when none is). Reads indexes only (migration 6), never the
   * queued sales one by one: what a request to the hub about one receipt waits for (core's CoreContext.queuedSeqFor).
   */
  lastSeqOf(q: { receipt: string | undefined; authorizations: readonly string[]; everyNotSale: boolean }): number {
    const newest = (st: Statement, ...args: unknown[]): number => (st.get(...args) as { s: number }).s;
    let seq = q.everyNotSale ? newest(this.newestNotSale) : 0;
    if (q.receipt !== undefined) seq = Math.max(seq, newest(this.newestOfRef, q.receipt, 1));
    for (const a of q.authorizations) seq = Math.max(seq, newest(this.newestOfRef, a, 0));
    return seq;
  }

  /**
   * The highest seq this database ever gave an event, whether or not its row is still here
   * (AUTOINCREMENT keeps it in sqlite_sequence): what the hub compares with its cursor to tell a
   * restored database (DESIGN rule 9). 0 before the first event.
   */
  newest(): number {
    return (this.lastGiven.get() as { seq: number } | undefined)?.seq ?? 0;
  }

  /**
   * Drops rows the hub has confirmed (the uploader passes no more than the batch it acked).
   * Committed without waiting for the disk: should a power loss undo the delete, the rows are sent
   * again and the hub answers `duplicate` by their ids, so this write need not cost an fsync per
   * acked batch.
   */
  deleteUpTo(seq: number): number {
    return withoutFsync(this.db, () => this.del.run(seq).changes);
  }

  stats(): OutboxStats {
    const r = this.count.get() as { n: number; oldest: number | null };
    return { depth: r.n, oldestAgeMs: r.oldest === null ? 0 : Math.max(0, this.now() - r.oldest) };
  }

  onAppend(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}
