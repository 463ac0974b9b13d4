import type { Statement } from 'better-sqlite3';
import { businessDayOf, lineAmount, toMilli } from '@tillbridge/shared';
import type { Db } from '../db/agent-db.js';
import { JOURNAL_RETENTION_MS, type DayCount, type ForwardedJournal } from '../core/ports.js';

export { JOURNAL_RETENTION_MS, type DayCount };

export interface JournalRow {
  event_id: string;
  kind: string;
  register: string;
  business_day: string;
  at: string;
  created_ms: number;
  body: string;
  ref: string | null;
  amount: number | null;
  tenders: string | null;
}

interface Facts {
  businessDay: string;
  ref: string | null;
  amount: number | null;
  tenders: string | null;
}

/**
 * Every event the agent forwarded to the hub, written by the outbox in the same transaction as
 * its row (so it is never ahead of or behind the outbox), and kept for a retention period after
 * the outbox row is gone. What the agent counts a register's day from, and what it sends again
 * when the hub asks (`resend`), with the original ids. One insert per event: it is on the sale path.
 */
export class Journal implements ForwardedJournal {
  private readonly insert: Statement;
  private readonly ofDay: Statement;
  private readonly prune: Statement;

  /**
   * `zone`: the store's time zone now (the live sync setting `timeZone`): the business day of a
   * sale is the date of its register time there, that of any other event the date it was accepted.
   */
  constructor(
    db: Db,
    private readonly zone: () => string = () => 'UTC',
  ) {
    this.insert = db.prepare(
      `INSERT INTO journal (event_id, kind, register, business_day, at, created_ms, body, ref, amount, tenders)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    this.ofDay = db.prepare(
      `SELECT * FROM journal WHERE register = ? AND business_day = ? ORDER BY created_ms, event_id`,
    );
    this.prune = db.prepare(`DELETE FROM journal WHERE created_ms < ?`);
  }

  /** Call inside the outbox's transaction, with the row just written. */
  record(
    eventId: string,
    kind: string,
    register: string,
    at: string,
    createdMs: number,
    body: unknown,
    json: string,
  ): void {
    const f = facts(kind, body, at, this.zone());
    this.insert.run(eventId, kind, register, f.businessDay, at, createdMs, json, f.ref, f.amount, f.tenders);
  }

  /** Every event forwarded for `register` on `businessDay`, oldest first. */
  day(register: string, businessDay: string): JournalRow[] {
    return this.ofDay.all(register, businessDay) as JournalRow[];
  }

  /** The agent's count of a register's day: sales, completed returns, tenders, and what it forwarded. */
  count(register: string, businessDay: string): DayCount {
    const out: DayCount = {
      sales: { count: 0, amount: 0 },
      returns: { count: 0, amount: 0 },
      tenders: [],
      receipts: [],
      authorizations: [],
    };
    const tenders = new Map<string, number>();
    const currencies = new Set<string>();
    for (const r of this.day(register, businessDay)) {
      if (r.kind === 'sale') {
        out.sales.count++;
        out.sales.amount += r.amount ?? 0;
        if (r.ref !== null) out.receipts.push(r.ref);
        const c = (JSON.parse(r.body) as { currency?: unknown }).currency;
        if (typeof c === 'string') currencies.add(c);
      } else if (r.kind === 'return.complete') {
        out.returns.count++;
        out.returns.amount += r.amount ?? 0;
        if (r.ref !== null) out.authorizations.push(r.ref);
      } else continue;
      if (r.tenders !== null)
        for (const [k, v] of Object.entries(JSON.parse(r.tenders) as Record<string, number>))
          tenders.set(k, (tenders.get(k) ?? 0) + v);
    }
    out.tenders = [...tenders.entries()]
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([kind, amount]) => ({ kind, amount }));
    const [only, ...more] = currencies;
    if (only !== undefined && more.length === 0) out.currency = only;
    return out;
  }

  /** Drops what was written more than `ageMs` before `nowMs`. */
  pruneOlderThan(nowMs: number, ageMs: number = JOURNAL_RETENTION_MS): number {
    return this.prune.run(nowMs - ageMs).changes;
  }
}

function facts(kind: string, body: unknown, at: string, zone: string): Facts {
  const b = (body ?? {}) as Record<string, unknown>;
  if (kind === 'sale') {
    const lines = (b.lines ?? []) as { qty: number; unitPrice: number }[];
    const tenders: Record<string, number> = {};
    for (const t of (b.tenders ?? []) as { kind: string; amount: number }[]) {
      const k = t.kind.toLowerCase();
      tenders[k] = (tenders[k] ?? 0) + t.amount;
    }
    return {
      businessDay: businessDayOf(typeof b.at === 'string' ? b.at : at, zone),
      ref: typeof b.receipt === 'string' ? b.receipt : null,
      amount: lines.reduce((sum, l) => sum + lineAmount(toMilli(l.qty), l.unitPrice), 0),
      tenders: JSON.stringify(tenders),
    };
  }
  if (kind === 'return.complete') {
    const refund = b.refund as { kind: string; amount: number };
    return {
      businessDay: businessDayOf(at, zone),
      ref: typeof b.authorization === 'string' ? b.authorization : null,
      amount: refund.amount,
      tenders: JSON.stringify({ [refund.kind.toLowerCase()]: -refund.amount }),
    };
  }
  if (kind === 'day.close' && typeof b.businessDay === 'string')
    return { businessDay: b.businessDay, ref: null, amount: null, tenders: null };
  return {
    businessDay: businessDayOf(at, zone),
    ref: typeof b.authorization === 'string' ? b.authorization : null,
    amount: null,
    tenders: null,
  };
}
