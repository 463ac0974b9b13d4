import type { Statement } from 'better-sqlite3';
import type { HubStorage } from '../storage/sqlite.js';

export type ReturnStatus = 'reserved' | 'completed' | 'cancelled' | 'expired' | 'denied';

export interface ReturnRow {
  authorization: string;
  store: string;
  register: string;
  request_id: string;
  receipt: string;
  mode: 'online' | 'offline';
  decision: 'approved' | 'denied';
  status: ReturnStatus;
  reconciliation: string | null;
  exception_code: string | null;
  reason: string | null;
  refund_amount: number | null;
  refund_kind: string | null;
  created_at: string;
  expires_at: string | null;
  completed_at: string | null;
  updated_at: string;
}

export interface ReturnLineRow {
  authorization: string;
  /** the receipt's line; negative for a line asked for by SKU that matched none (see asked_sku) */
  line: number;
  asked_sku: string | null;
  requested_qty: number;
  approved_qty: number;
  completed_qty: number;
  disposition: 'restock' | 'damaged';
  code: string;
  reason: string | null;
}

/** Return tickets and their lines. */
export class ReturnsRepo {
  private readonly getOne: Statement;
  private readonly getLines: Statement;
  private readonly insertRet: Statement;
  private readonly insertLine: Statement;
  private readonly claimed: Statement;
  private readonly byStore: Statement;
  private readonly all: Statement;
  private readonly due: Statement;
  private readonly upd: Statement;
  private readonly updLine: Statement;
  private readonly delLines: Statement;

  constructor(private readonly s: HubStorage) {
    this.getOne = s.db.prepare(`SELECT * FROM returns WHERE authorization = ?`);
    this.getLines = s.db.prepare(`SELECT * FROM return_lines WHERE authorization = ? ORDER BY line`);
    this.insertRet = s.db.prepare(
      `INSERT INTO returns (authorization, store, register, request_id, receipt, mode, decision, status, reconciliation,
         exception_code, reason, refund_amount, refund_kind, created_at, expires_at, completed_at, updated_at)
       VALUES (@authorization, @store, @register, @request_id, @receipt, @mode, @decision, @status, @reconciliation,
         @exception_code, @reason, @refund_amount, @refund_kind, @created_at, @expires_at, @completed_at, @updated_at)`,
    );
    this.insertLine = s.db.prepare(
      `INSERT INTO return_lines (authorization, line, asked_sku, requested_qty, approved_qty, completed_qty, disposition, code, reason)
       VALUES (@authorization, @line, @asked_sku, @requested_qty, @approved_qty, @completed_qty, @disposition, @code, @reason)`,
    );
    // What counts against a sale line: completed quantities, and reservations not yet expired.
    // Returns flagged as exceptions are kept but do not count (they are the operator's to settle).
    this.claimed = s.db.prepare(
      `SELECT rl.line AS line,
              SUM(CASE WHEN r.status = 'completed' THEN rl.completed_qty
                       WHEN r.status = 'reserved' AND r.expires_at > @now THEN rl.approved_qty
                       ELSE 0 END) AS qty
         FROM returns r JOIN return_lines rl ON rl.authorization = r.authorization
        WHERE r.receipt = @receipt AND r.exception_code IS NULL AND r.authorization <> @exclude AND rl.line > 0
        GROUP BY rl.line`,
    );
    this.byStore = s.db.prepare(`SELECT * FROM returns WHERE store = ? ORDER BY created_at, authorization`);
    this.all = s.db.prepare(`SELECT * FROM returns ORDER BY created_at, authorization`);
    this.due = s.db.prepare(`SELECT * FROM returns WHERE status = 'reserved' AND expires_at <= ?`);
    this.upd = s.db.prepare(
      `UPDATE returns SET status = @status, reconciliation = @reconciliation, exception_code = @exception_code, reason = @reason,
         refund_amount = @refund_amount, refund_kind = @refund_kind, completed_at = @completed_at, expires_at = @expires_at,
         mode = @mode, updated_at = @updated_at
       WHERE authorization = @authorization`,
    );
    this.delLines = s.db.prepare(`DELETE FROM return_lines WHERE authorization = ?`);
    this.updLine = s.db.prepare(`UPDATE return_lines SET completed_qty = ?, approved_qty = ? WHERE authorization = ? AND line = ?`);
  }

  get(authorization: string): ReturnRow | undefined {
    return this.getOne.get(authorization) as ReturnRow | undefined;
  }

  lines(authorization: string): ReturnLineRow[] {
    return this.getLines.all(authorization) as ReturnLineRow[];
  }

  insert(r: ReturnRow, lines: Omit<ReturnLineRow, 'authorization'>[]): void {
    this.s.tx(() => {
      this.insertRet.run(r);
      for (const l of lines) this.insertLine.run({ ...l, authorization: r.authorization });
    });
  }

  /** Replaces a ticket and its lines (an offline decision superseding a late online answer). */
  replace(r: ReturnRow, lines: Omit<ReturnLineRow, 'authorization'>[]): void {
    this.s.tx(() => {
      this.delLines.run(r.authorization);
      this.update(r);
      for (const l of lines) this.insertLine.run({ ...l, authorization: r.authorization });
    });
  }

  update(r: ReturnRow): void {
    this.upd.run(r);
  }

  setLine(authorization: string, line: number, completedQty: number, approvedQty: number): void {
    this.updLine.run(completedQty, approvedQty, authorization, line);
  }

  /** milli-units claimed per line of `receipt` at `nowIso`, leaving out `exclude`. */
  claimedByLine(receipt: string, nowIso: string, exclude = ''): Map<number, number> {
    const out = new Map<number, number>();
    for (const r of this.claimed.all({ receipt, now: nowIso, exclude }) as { line: number; qty: number }[]) out.set(r.line, r.qty);
    return out;
  }

  list(store?: string): ReturnRow[] {
    return (store ? this.byStore.all(store) : this.all.all()) as ReturnRow[];
  }

  reservedDue(nowIso: string): ReturnRow[] {
    return this.due.all(nowIso) as ReturnRow[];
  }
}
