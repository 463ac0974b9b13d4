import type { Statement } from 'better-sqlite3';
import {
  dayCutoffInstant,
  isBusinessDay,
  TbCodes,
  TbError,
  type DayCloseEventBody,
  type DayCloseMessage,
  type Logger,
} from '@tillbridge/shared';
import type { Db } from '../db/agent-db.js';
import { JOURNAL_RETENTION_MS, type EventOutbox } from './ports.js';

/** The store's business-day settings (live sync settings `timeZone`, `dayCutoff`). */
export interface DaySettings {
  timeZone: string;
  dayCutoff: string;
}

/** What the agent did with day closes since it started (metrics). */
export interface DayCloseCounters {
  /** day.close events enqueued, by source */
  sent: { register: number; agent: number };
  /** resend frames served, and the events they put back in the outbox */
  resends: number;
  requeued: number;
}

/**
 * A register's business day, closed (docs/reconciliation.md#at-the-store-the-agents-side):
 * - a register's own day close (`day.close`, the Z report) becomes a `day.close` event (source
 *   `register`) carrying what the agent forwarded for that register and day (receipts,
 *   authorizations), from the journal;
 * - at the store's cut-off (`dayCutoff` on the next day, in `timeZone`), every register with
 *   forwarded sales or returns that day and no day close gets one from the agent (source `agent`),
 *   its totals counted from the journal; once per register and day, remembered in `day_closes`;
 * - a `resend` from the hub puts a register's day back in the outbox, original ids and all.
 */
export class DayCloses {
  readonly counters: DayCloseCounters = { sent: { register: 0, agent: 0 }, resends: 0, requeued: 0 };
  private readonly insertClose: Statement;
  private readonly openDays: Statement;
  private readonly closed: Statement;
  private readonly pruneCloses: Statement;

  constructor(
    private readonly db: Db,
    private readonly outbox: EventOutbox,
    private readonly now: () => number,
    private readonly settings: () => DaySettings,
    private readonly log: Logger,
  ) {
    this.insertClose = db.prepare(
      `INSERT INTO day_closes (register, business_day, source, event_id, created_ms) VALUES (?, ?, ?, ?, ?)`,
    );
    this.closed = db.prepare(`SELECT 1 FROM day_closes WHERE register = ? AND business_day = ? LIMIT 1`);
    // the registers' days with forwarded activity and no day close yet
    this.openDays = db.prepare(
      `SELECT DISTINCT j.register, j.business_day FROM journal j
        WHERE j.kind <> 'day.close'
          AND NOT EXISTS (SELECT 1 FROM day_closes d WHERE d.register = j.register AND d.business_day = j.business_day)
        ORDER BY j.business_day, j.register`,
    );
    this.pruneCloses = db.prepare(`DELETE FROM day_closes WHERE created_ms < ?`);
  }

  /**
   * A register's day close: enqueues its `day.close` event. Call inside the transaction that
   * records the register's answer (StoreCore's `durably`), so the event and the ack are one.
   */
  fromRegister(register: string, msg: DayCloseMessage): void {
    if (!isBusinessDay(msg.businessDay))
      throw new TbError(TbCodes.INVALID, 'businessDay: expected a real date YYYY-MM-DD');
    const forwarded = this.outbox.journal.count(register, msg.businessDay);
    const tenders = new Map<string, number>();
    for (const t of msg.tenders) tenders.set(t.kind.toLowerCase(), (tenders.get(t.kind.toLowerCase()) ?? 0) + t.amount);
    const body: DayCloseEventBody = {
      requestId: msg.id,
      businessDay: msg.businessDay,
      source: 'register',
      closedAt: msg.closedAt ?? new Date(this.now()).toISOString(),
      ...(msg.currency !== undefined ? { currency: msg.currency } : {}),
      sales: msg.sales,
      returns: msg.returns,
      tenders: [...tenders.entries()].map(([kind, amount]) => ({ kind, amount })),
      receipts: forwarded.receipts,
      authorizations: forwarded.authorizations,
    };
    const { eventId } = this.outbox.append('day.close', register, body);
    this.insertClose.run(register, msg.businessDay, 'register', eventId, this.now());
    this.counters.sent.register++;
  }

  /**
   * The agent's own day closes that are due now: for each register's day past its cut-off with
   * forwarded sales or returns and no day close, one `day.close` (source `agent`) with the
   * journal's counts. Each in its own transaction; returns how many were enqueued.
   */
  runDue(): number {
    const settings = this.settings();
    const nowMs = this.now();
    let n = 0;
    for (const day of this.openDays.all() as { register: string; business_day: string }[]) {
      let due: number;
      try {
        due = dayCutoffInstant(day.business_day, settings.dayCutoff, settings.timeZone);
      } catch (err) {
        this.log.warn(
          { err, register: day.register, businessDay: day.business_day },
          'cannot place the cut-off of a business day; skipped',
        );
        continue;
      }
      if (nowMs < due) continue;
      const done = this.db
        .transaction(() => {
          if (this.closed.get(day.register, day.business_day)) return false;
          const count = this.outbox.journal.count(day.register, day.business_day);
          const body: DayCloseEventBody = {
            requestId: `agent-close:${day.register}:${day.business_day}`,
            businessDay: day.business_day,
            source: 'agent',
            closedAt: new Date(nowMs).toISOString(),
            ...(count.currency !== undefined ? { currency: count.currency } : {}),
            sales: count.sales,
            returns: count.returns,
            tenders: count.tenders,
            receipts: count.receipts,
            authorizations: count.authorizations,
          };
          const { eventId } = this.outbox.append('day.close', day.register, body);
          this.insertClose.run(day.register, day.business_day, 'agent', eventId, nowMs);
          return true;
        })
        .immediate();
      if (done) {
        n++;
        this.counters.sent.agent++;
        this.log.info(
          { register: day.register, businessDay: day.business_day },
          "the register sent no day close by the cut-off: sent the agent's own count",
        );
      }
    }
    return n;
  }

  /**
   * The hub lacks events of a register's business day: every journalled event of it goes back in
   * the outbox under its original id (those still waiting there stay as they are). Idempotent.
   */
  resend(
    register: string,
    businessDay: string,
    missing: { receipts: string[]; authorizations: string[] },
  ): { requeued: number; waiting: number } {
    const result = this.outbox.resend(register, businessDay);
    this.counters.resends++;
    this.counters.requeued += result.requeued;
    const { requeued, waiting: stillWaiting } = result;
    const missingCounts = {
      missingReceipts: missing.receipts.length,
      missingAuthorizations: missing.authorizations.length,
    };
    this.log.info(
      { register, businessDay, requeued, stillWaiting, ...missingCounts },
      "the hub asked for a register's day again: its events are back in the outbox",
    );
    return result;
  }

  /**
   * Drops journal entries older than the retention (default 14 days), and the marks of days
   * closed more than twice that ago (a sale journalled late for a closed day is not closed again).
   */
  prune(retentionMs: number = JOURNAL_RETENTION_MS): number {
    const nowMs = this.now();
    return this.db
      .transaction(
        () =>
          this.outbox.journal.pruneOlderThan(nowMs, retentionMs) +
          this.pruneCloses.run(nowMs - 2 * retentionMs).changes,
      )
      .immediate();
  }
}
