import type { HubStorage, Statement } from '../storage/index.js';
import { TbCodes, TbError } from '@tillbridge/shared';
import type { AuditEntry } from '../domain/audit-log.js';
import { iso, type Clock } from '../domain/clock.js';
import { fromRow, type ExportedEntry } from './entry.js';

/** Entries this recent are what a query covers when it names no --since ("queryable at once"). */
export const HOT_WINDOW_DAYS = 90;
export const MAX_PAGE = 10_000;
const DAY = 86_400_000;

export interface PageQuery {
  /** ISO 8601; default: HOT_WINDOW_DAYS ago. */
  since?: string;
  /** ISO 8601, exclusive; default: no end. */
  until?: string;
  store?: string;
  /** The cursor: the last id of the previous page. */
  after?: number;
  limit?: number;
}

export interface Page {
  entries: ExportedEntry[];
  /** Pass as `after` for the next page; null when this was the last. */
  next: number | null;
  /** The chain's newest entry id when the page was read. */
  head: number;
  /** How many entries the range holds from `after` on, at most (no --store: exact but for concurrent writes). */
  estimate?: number;
}

type Row = AuditEntry & { origin?: string | null };

/**
 * Pages through the audit log in chain order. A range is contiguous: it starts at the first
 * entry written at or after `since` and ends before the first written at or after `until`, so a
 * whole-range export verifies as a chain. Every query is an index range: `at` finds where a
 * range starts, the id (or store, id) index pages through it.
 */
export class AuditQuery {
  private readonly startOf: Statement;
  private readonly pageAll: Statement;
  private readonly pageStore: Statement;
  private readonly headStmt: Statement;
  private readonly oldestStmt: Statement;
  private readonly before: Statement;

  constructor(
    storage: HubStorage,
    private readonly clock: Clock,
  ) {
    const db = storage.db;
    this.startOf = db.prepare(`SELECT id FROM audit WHERE at >= ? ORDER BY at, id LIMIT 1`);
    this.pageAll = db.prepare(`SELECT * FROM audit WHERE id > ? ORDER BY id LIMIT ?`);
    this.pageStore = db.prepare(`SELECT * FROM audit WHERE store = ? AND id > ? ORDER BY id LIMIT ?`);
    this.headStmt = db.prepare(`SELECT id, hash FROM audit ORDER BY id DESC LIMIT 1`);
    this.oldestStmt = db.prepare(`SELECT id, at, prev_hash FROM audit ORDER BY id LIMIT 1`);
    this.before = db.prepare(`SELECT id, at FROM audit WHERE id < ? ORDER BY id DESC LIMIT ?`);
  }

  page(q: PageQuery): Page {
    const limit = q.limit ?? 1000;
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_PAGE)
      throw new TbError(TbCodes.INVALID, `limit: expected 1..${MAX_PAGE}`);
    const since = isoParam(q.since, 'since') ?? iso(this.clock.now() - HOT_WINDOW_DAYS * DAY);
    const until = isoParam(q.until, 'until');
    const head = this.head()?.id ?? 0;
    const start = this.firstAtOrAfter(since, q.after ?? 0);
    const end = until === undefined ? undefined : this.firstAtOrAfter(until, q.after ?? 0); // exclusive
    const after = Math.max(q.after ?? 0, (start ?? head + 1) - 1);
    const last = Math.min(head, (end ?? head + 1) - 1);
    if (after >= last) return { entries: [], next: null, head, ...(q.after === undefined ? { estimate: 0 } : {}) };
    const rows = (
      q.store === undefined ? this.pageAll.all(after, limit) : this.pageStore.all(q.store, after, limit)
    ) as Row[];
    const entries = rows.filter((r) => r.id <= last).map(fromRow);
    const lastEntry = entries.at(-1);
    const done = lastEntry === undefined || entries.length < rows.length || rows.length < limit || lastEntry.id >= last;
    return {
      entries,
      next: done ? null : lastEntry.id,
      head,
      ...(q.after === undefined && q.store === undefined ? { estimate: last - after } : {}),
    };
  }

  /** Every entry from `after` on, a page at a time. */
  *iterate(after = 0, page = 1000): Generator<ExportedEntry> {
    for (;;) {
      const rows = this.pageAll.all(after, page) as Row[];
      for (const r of rows) yield fromRow(r);
      const lastRow = rows.at(-1);
      if (rows.length < page || !lastRow) return;
      after = lastRow.id;
    }
  }

  head(): { id: number; hash: string } | undefined {
    return this.headStmt.get() as { id: number; hash: string } | undefined;
  }

  /** The oldest retained entry. */
  oldest(): { id: number; at: string; prev_hash: string } | undefined {
    return this.oldestStmt.get() as { id: number; at: string; prev_hash: string } | undefined;
  }

  /**
   * The first entry written at or after `at`: the time index finds the earliest at or after it, and the entries
   * written just before that one, at or after `at` too, come first (they carry later times when the hub's clock was
   * stepped back). Not before `floor`, a page's cursor: the entries up to it were read already.
   */
  private firstAtOrAfter(at: string, floor = 0): number | undefined {
    let id = (this.startOf.get(at) as { id: number } | undefined)?.id;
    while (id !== undefined && id - 1 > floor) {
      const rows = this.before.all(id, 500) as { id: number; at: string }[];
      for (const r of rows) {
        if (r.id !== id - 1 || r.at < at) return id;
        id = r.id;
      }
      if (rows.length < 500) return id;
    }
    return id;
  }
}

/** An ISO 8601 time (or date) as the stored form, so text comparison is time comparison. */
export function isoParam(v: string | undefined, name: string): string | undefined {
  if (v === undefined || v === '') return undefined;
  const t = /^\d{4}-\d{2}-\d{2}/.test(v) ? Date.parse(v) : NaN;
  if (Number.isNaN(t))
    throw new TbError(
      TbCodes.INVALID,
      `${name}: expected an ISO 8601 date or time, e.g. 2026-11-01 or 2026-11-01T08:00:00Z, got "${v}"`,
    );
  return iso(t);
}
