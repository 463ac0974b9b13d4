import type { Statement } from 'better-sqlite3';
import type { Db } from '../db/agent-db.js';

/** `pending`: the request is recorded and the hub was asked, the answer not yet recorded here. */
export type LocalReturnStatus = 'pending' | 'approved' | 'denied' | 'completed' | 'cancelled';

export interface LocalReturnLine {
  /** the receipt's line (0: a pending line asked for by SKU this agent could not resolve) */
  line: number;
  /** set when the register asked for the line by SKU */
  sku?: string;
  /** approved quantity, milli-units */
  qty: number;
  disposition: 'restock' | 'damaged';
}

export interface LocalReturn {
  authorization: string;
  receipt: string;
  register: string;
  requestId: string;
  mode: 'online' | 'offline';
  decision: 'approved' | 'denied' | 'pending';
  status: LocalReturnStatus;
  lines: LocalReturnLine[];
  refund: number;
}

/**
 * Every return decision this agent gave. Approved and completed returns count against what is
 * still returnable on a receipt, so two offline returns of the same line cannot both pass.
 */
export class LocalReturns {
  private readonly get: Statement;
  private readonly insert: Statement;
  private readonly setStatus: Statement;
  private readonly byReceipt: Statement;
  private readonly pendingStmt: Statement;

  constructor(db: Db, private readonly now: () => number = Date.now) {
    this.get = db.prepare(`SELECT * FROM local_returns WHERE authorization = ?`);
    this.insert = db.prepare(
      `INSERT INTO local_returns (authorization, receipt, register, request_id, mode, decision, status, lines, refund, created_ms)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT(authorization) DO UPDATE SET mode = excluded.mode, decision = excluded.decision, status = excluded.status,
         lines = excluded.lines, refund = excluded.refund
       WHERE local_returns.status = 'pending'`,
    );
    this.setStatus = db.prepare(`UPDATE local_returns SET status = ?, lines = ? WHERE authorization = ?`);
    this.byReceipt = db.prepare(
      `SELECT lines FROM local_returns WHERE receipt = ? AND authorization <> ? AND status IN ('pending', 'approved', 'completed')`,
    );
    this.pendingStmt = db.prepare(`SELECT authorization FROM local_returns WHERE status = 'pending' ORDER BY created_ms`);
  }

  find(authorization: string): LocalReturn | undefined {
    const r = this.get.get(authorization) as Record<string, unknown> | undefined;
    if (!r) return undefined;
    return {
      authorization: r.authorization as string,
      receipt: r.receipt as string,
      register: r.register as string,
      requestId: r.request_id as string,
      mode: r.mode as LocalReturn['mode'],
      decision: r.decision as LocalReturn['decision'],
      status: r.status as LocalReturnStatus,
      lines: JSON.parse(r.lines as string) as LocalReturnLine[],
      refund: r.refund as number,
    };
  }

  /** Records a decision; a pending row is replaced, a decided one never. */
  record(r: LocalReturn): void {
    this.insert.run(r.authorization, r.receipt, r.register, r.requestId, r.mode, r.decision, r.status, JSON.stringify(r.lines), r.refund, this.now());
  }

  update(authorization: string, status: LocalReturnStatus, lines: LocalReturnLine[]): void {
    this.setStatus.run(status, JSON.stringify(lines), authorization);
  }

  /**
   * milli-units already approved, returned or still pending per receipt line, as this agent
   * knows it (a pending request counts in full: the hub may have approved it).
   */
  claimedByLine(receipt: string, exclude = ''): Map<number, number> {
    const out = new Map<number, number>();
    for (const row of this.byReceipt.all(receipt, exclude) as { lines: string }[]) {
      for (const l of JSON.parse(row.lines) as LocalReturnLine[]) out.set(l.line, (out.get(l.line) ?? 0) + l.qty);
    }
    return out;
  }

  pending(): LocalReturn[] {
    return (this.pendingStmt.all() as { authorization: string }[]).map((r) => this.find(r.authorization)!);
  }
}
