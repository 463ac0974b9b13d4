import { lineAmount, systemClock } from '@tillbridge/shared';
import type { Statement } from 'better-sqlite3';
import type { Db } from '../db/agent-db.js';

/** `pending`: the request is recorded and the hub was asked, the answer not yet recorded here. */
export type LocalReturnStatus = 'pending' | 'approved' | 'override_required' | 'denied' | 'completed' | 'cancelled';

export interface LocalReturnLine {
  /** the receipt's line (0: a line asked for by SKU that is not resolved to one) */
  line: number;
  /** set when the register asked for the line by SKU */
  sku?: string;
  /** approved quantity (completed, once completed), milli-units */
  qty: number;
  disposition: 'restock' | 'damaged';
  /** what `qty` refunds after its restocking fee, minor units (absent: the hub did not say) */
  refund?: number;
  /** the restocking fee on it */
  fee?: number;
}

export interface LocalReturn {
  authorization: string;
  /** '' for a return without a receipt */
  receipt: string;
  register: string;
  requestId: string;
  mode: 'online' | 'offline';
  decision: 'approved' | 'conditional' | 'override_required' | 'denied' | 'pending';
  status: LocalReturnStatus;
  lines: LocalReturnLine[];
  /** refund after fees, minor units */
  refund: number;
  allowedTenders: string[];
  expiresAt: string | null;
}

/** The local status a decision leaves a return in. */
export function statusOf(decision: LocalReturn['decision']): LocalReturnStatus {
  switch (decision) {
    case 'approved':
    case 'conditional':
      return 'approved';
    case 'override_required':
      return 'override_required';
    case 'pending':
      return 'pending';
    default:
      return 'denied';
  }
}

/** The returns that claim a receipt's lines (local_returns_receipt); the offline decision reads it. */
export const CLAIMS_ON_RECEIPT_SQL = `SELECT lines FROM local_returns
  WHERE receipt = ? AND authorization <> ? AND status IN ('pending', 'approved', 'override_required', 'completed')`;

/** What one register approved offline since a time: the offline daily limit (local_returns_offline). */
export const OFFLINE_APPROVED_SINCE_SQL = `SELECT COALESCE(SUM(refund), 0) AS total FROM local_returns
  WHERE register = ? AND mode = 'offline' AND status IN ('approved', 'completed') AND created_ms >= ?`;

/** A row of local_returns. */
export interface LocalReturnRow {
  authorization: string;
  receipt: string;
  register: string;
  request_id: string;
  mode: LocalReturn['mode'];
  decision: LocalReturn['decision'];
  status: LocalReturnStatus;
  lines: string;
  refund: number;
  allowed_tenders: string;
  expires_at: string | null;
  /** when it was recorded, or decided if it was pending (ms since the epoch) */
  created_ms: number;
}

/** A row of local_returns as the return it records. */
export function localReturnOf(r: LocalReturnRow): LocalReturn {
  return {
    authorization: r.authorization,
    receipt: r.receipt,
    register: r.register,
    requestId: r.request_id,
    mode: r.mode,
    decision: r.decision,
    status: r.status,
    lines: JSON.parse(r.lines) as LocalReturnLine[],
    refund: r.refund,
    allowedTenders: JSON.parse(r.allowed_tenders) as string[],
    expiresAt: r.expires_at,
  };
}

/**
 * Every return decision this agent gave. Approved, completed, pending and override-required
 * returns count against what is still returnable on a receipt, so two offline returns of the
 * same line cannot both pass.
 */
export class LocalReturns {
  private readonly get: Statement;
  private readonly insert: Statement;
  private readonly setStatus: Statement;
  private readonly byReceipt: Statement;
  private readonly pendingStmt: Statement;
  private readonly offlineSince: Statement;
  private readonly ofReceipt: Statement;

  constructor(
    db: Db,
    private readonly now: () => number = () => systemClock.now(),
  ) {
    this.get = db.prepare(`SELECT * FROM local_returns WHERE authorization = ?`);
    this.insert = db.prepare(
      `INSERT INTO local_returns (authorization, receipt, register, request_id, mode, decision, status, lines, refund,
         allowed_tenders, expires_at, created_ms)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT(authorization) DO UPDATE SET mode = excluded.mode, decision = excluded.decision,
         status = excluded.status, lines = excluded.lines, refund = excluded.refund,
         allowed_tenders = excluded.allowed_tenders, expires_at = excluded.expires_at,
         created_ms = excluded.created_ms
       WHERE local_returns.status IN ('pending', 'override_required')`,
    );
    this.setStatus = db.prepare(`UPDATE local_returns SET status = ?, lines = ? WHERE authorization = ?`);
    this.byReceipt = db.prepare(CLAIMS_ON_RECEIPT_SQL);
    this.pendingStmt = db.prepare(`SELECT * FROM local_returns WHERE status = 'pending' ORDER BY created_ms`);
    this.offlineSince = db.prepare(OFFLINE_APPROVED_SINCE_SQL);
    this.ofReceipt = db.prepare(`SELECT authorization FROM local_returns WHERE receipt = ?`).pluck();
  }

  /** Every return of `receipt` this agent asked for or decided, whatever became of it. */
  authorizationsOf(receipt: string): string[] {
    return this.ofReceipt.all(receipt) as string[];
  }

  find(authorization: string): LocalReturn | undefined {
    const r = this.get.get(authorization) as LocalReturnRow | undefined;
    return r && localReturnOf(r);
  }

  /**
   * Records a decision; a pending (or override-required) row is replaced, a decided one never. A replaced row takes
   * the time of its decision (`created_ms`): the offline daily limit counts a return on the day it was approved, and a
   * request left pending by a crash before midnight and decided offline after it is that day's.
   */
  record(r: LocalReturn): void {
    this.insert.run(
      r.authorization,
      r.receipt,
      r.register,
      r.requestId,
      r.mode,
      r.decision,
      r.status,
      JSON.stringify(r.lines),
      r.refund,
      JSON.stringify(r.allowedTenders),
      r.expiresAt,
      this.now(),
    );
  }

  update(authorization: string, status: LocalReturnStatus, lines: LocalReturnLine[]): void {
    this.setStatus.run(status, JSON.stringify(lines), authorization);
  }

  /**
   * milli-units already approved, returned or still pending per receipt line, as this agent
   * knows it (a pending request counts in full: the hub may have approved it).
   */
  claimedByLine(receipt: string, exclude = ''): Map<number, number> {
    return this.claimsByLine(receipt, exclude).milli;
  }

  /**
   * Per receipt line, as this agent knows it: the milli-units claimed (see claimedByLine), and
   * what those returns refund for the line at the sold price before fees — as decided, or, where
   * no amount is known (a pending request), the quantity at the line's price from `unitPrice`.
   */
  claimsByLine(
    receipt: string,
    exclude = '',
    unitPrice: (line: number) => number = () => 0,
  ): { milli: Map<number, number>; amount: Map<number, number> } {
    const milli = new Map<number, number>();
    const amount = new Map<number, number>();
    for (const row of this.byReceipt.all(receipt, exclude) as { lines: string }[]) {
      for (const l of JSON.parse(row.lines) as LocalReturnLine[]) {
        if (l.line <= 0) continue;
        milli.set(l.line, (milli.get(l.line) ?? 0) + l.qty);
        const a = l.refund !== undefined ? l.refund + (l.fee ?? 0) : lineAmount(l.qty, unitPrice(l.line));
        amount.set(l.line, (amount.get(l.line) ?? 0) + a);
      }
    }
    return { milli, amount };
  }

  /** Refunds this register approved offline since `sinceMs` (the offline daily limit), minor units. */
  offlineApprovedSince(register: string, sinceMs: number): number {
    return (this.offlineSince.get(register, sinceMs) as { total: number }).total;
  }

  /** The requests recorded as asked and never answered, oldest first. */
  pending(): LocalReturn[] {
    return (this.pendingStmt.all() as LocalReturnRow[]).map(localReturnOf);
  }
}
