import type { HubStorage, Statement } from '../storage/index.js';
import type { SaleKey } from './sales.js';

export type ReturnStatus = 'reserved' | 'completed' | 'cancelled' | 'expired' | 'denied' | 'reversed';
export type GradedDecision = 'approved' | 'conditional' | 'override_required' | 'denied';

/** One return ticket: every request is one, whatever its outcome. */
export interface ReturnRow {
  authorization: string;
  store: string;
  register: string;
  request_id: string;
  /** '' for a return without a receipt */
  receipt: string;
  /** the store that issued `receipt` (receipt numbers are each store's own); null when no sale was found */
  sale_store: string | null;
  mode: 'online' | 'offline';
  decision: GradedDecision;
  status: ReturnStatus;
  reconciliation: string | null;
  exception_code: string | null;
  reason: string | null;
  /** refund after fees (approved), or what was refunded (completed) */
  refund_amount: number | null;
  refund_kind: string | null;
  created_at: string;
  expires_at: string | null;
  completed_at: string | null;
  updated_at: string;
  /** JSON: the rules that fired */
  rules: string;
  /** JSON: tenders the refund may go to */
  allowed_tenders: string;
  /** JSON: conditions of a conditional decision */
  conditions: string;
  gross_refund: number | null;
  fees: number;
  policy_version: number;
  /** full | partial, once completed */
  kind: string | null;
  override_by: string | null;
  override_at: string | null;
  /** 1: the hub answered online after the agent's deadline (it decided offline) */
  late_online: number;
  card_hash: string | null;
  /** JSON: what the register asked */
  request: string;
  resolution: string | null;
  resolved_at: string | null;
  resolved_by: string | null;
  resolution_note: string | null;
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
  /** what approved_qty refunds at the sold price before fees, as authorized (null: not kept then) */
  amount: number | null;
  /** the restocking fee on `amount` */
  fee: number | null;
  /** what completed_qty was refunded at the sold price before fees */
  completed_amount: number | null;
}

/** A line as it is stored: the money columns may be left out (unknown). */
export type NewReturnLine = Omit<ReturnLineRow, 'authorization' | 'amount' | 'fee' | 'completed_amount'> &
  Partial<Pick<ReturnLineRow, 'amount' | 'fee' | 'completed_amount'>>;

export interface ExchangeRow {
  authorization: string;
  sku: string;
  qty: number;
  approved_qty: number;
  code: string;
}

/** Where a page of tickets starts: after this ticket, in the order they were created. */
export interface ReturnsPageKey {
  createdAt: string;
  authorization: string;
}

export interface ReturnsPageQuery {
  /** only this store's tickets */
  store?: string | undefined;
  /** the key of the last ticket of the page before; none: from the first */
  after?: ReturnsPageKey | undefined;
  limit: number;
}

/** A page of tickets, oldest first, with the lines of each; `next` is undefined on the last page. */
export interface ReturnsPage {
  tickets: { ticket: ReturnRow; lines: ReturnLineRow[] }[];
  next: ReturnsPageKey | undefined;
}

const COLUMNS = [
  'authorization',
  'store',
  'register',
  'request_id',
  'receipt',
  'mode',
  'decision',
  'status',
  'reconciliation',
  'exception_code',
  'reason',
  'refund_amount',
  'refund_kind',
  'created_at',
  'expires_at',
  'completed_at',
  'updated_at',
  'rules',
  'allowed_tenders',
  'conditions',
  'gross_refund',
  'fees',
  'policy_version',
  'kind',
  'override_by',
  'override_at',
  'late_online',
  'card_hash',
  'request',
  'resolution',
  'resolved_at',
  'resolved_by',
  'resolution_note',
  'sale_store',
] as const;

/**
 * What counts against a sale line: completed quantities, and reservations not yet expired — flagged
 * ones too: a flagged completion's goods came back and its refund was paid, a flagged reservation
 * holds what it approved, until an operator reverses it (the ticket is then `reversed` or
 * `cancelled`). Left out, the same units could be authorized and refunded again. With each, what
 * it refunds for the line at the sold price (lines decided before that was kept: their quantity at
 * the line's price).
 */
const CLAIMED_BY_LINE_SQL = `SELECT rl.line AS line,
          SUM(CASE WHEN r.status = 'completed' THEN rl.completed_qty
                   WHEN r.status = 'reserved' AND r.expires_at > @now THEN rl.approved_qty
                   ELSE 0 END) AS qty,
          SUM(CASE WHEN r.status = 'completed'
                     THEN COALESCE(rl.completed_amount,
                                   CAST(ROUND(rl.completed_qty * sl.unit_price / 1000.0) AS INTEGER))
                   WHEN r.status = 'reserved' AND r.expires_at > @now
                     THEN COALESCE(rl.amount, CAST(ROUND(rl.approved_qty * sl.unit_price / 1000.0) AS INTEGER))
                   ELSE 0 END) AS amount
     FROM returns r JOIN return_lines rl ON rl.authorization = r.authorization
     LEFT JOIN sale_lines sl ON sl.store = r.sale_store AND sl.receipt = r.receipt AND sl.line = rl.line
    WHERE r.sale_store = @store AND r.receipt = @receipt
      AND r.authorization <> @exclude AND rl.line > 0
    GROUP BY rl.line`;

/** Return tickets, their lines and exchange items. */
export class ReturnsRepo {
  private readonly getOne: Statement;
  private readonly getLines: Statement;
  private readonly insertRet: Statement;
  private readonly insertLine: Statement;
  private readonly claimed: Statement;
  private readonly byStore: Statement;
  private readonly all: Statement;
  private readonly byReceipt: Statement;
  private readonly due: Statement;
  private readonly upd: Statement;
  private readonly updLine: Statement;
  private readonly delLines: Statement;
  private readonly insertEx: Statement;
  private readonly getEx: Statement;
  private readonly delEx: Statement;
  private readonly exReserved: Statement;
  private readonly exReservedStore: Statement;
  private readonly dayTotal: Statement;
  private readonly pageOf: { all: Statement; byStore: Statement };
  private readonly pageLinesOf: { all: Statement; byStore: Statement };

  constructor(private readonly storage: HubStorage) {
    const db = storage.db;
    this.getOne = db.prepare(`SELECT * FROM returns WHERE authorization = ?`);
    this.getLines = db.prepare(`SELECT * FROM return_lines WHERE authorization = ? ORDER BY line`);
    this.insertRet = db.prepare(
      `INSERT INTO returns (${COLUMNS.join(', ')}) VALUES (${COLUMNS.map((c) => `@${c}`).join(', ')})`,
    );
    this.insertLine = db.prepare(
      `INSERT INTO return_lines (authorization, line, asked_sku, requested_qty, approved_qty, completed_qty,
       disposition, code, reason, amount, fee, completed_amount)
       VALUES (@authorization, @line, @asked_sku, @requested_qty, @approved_qty, @completed_qty, @disposition, @code,
         @reason, @amount, @fee, @completed_amount)`,
    );
    this.claimed = db.prepare(CLAIMED_BY_LINE_SQL);
    this.byStore = db.prepare(`SELECT * FROM returns WHERE store = ? ORDER BY created_at, authorization`);
    this.all = db.prepare(`SELECT * FROM returns ORDER BY created_at, authorization`);
    this.byReceipt = db.prepare(
      `SELECT * FROM returns WHERE sale_store = ? AND receipt = ? ORDER BY created_at, authorization`,
    );
    this.due = db.prepare(`SELECT * FROM returns WHERE status = 'reserved' AND expires_at <= ?`);
    this.upd = db.prepare(
      `UPDATE returns SET ${COLUMNS.filter((c) => c !== 'authorization')
        .map((c) => `${c} = @${c}`)
        .join(', ')} WHERE authorization = @authorization`,
    );
    this.updLine = db.prepare(
      `UPDATE return_lines SET completed_qty = ?, approved_qty = ?, completed_amount = ?
       WHERE authorization = ? AND line = ?`,
    );
    this.delLines = db.prepare(`DELETE FROM return_lines WHERE authorization = ?`);
    this.insertEx = db.prepare(
      `INSERT INTO return_exchanges (authorization, sku, qty, approved_qty, code)
       VALUES (@authorization, @sku, @qty, @approved_qty, @code)`,
    );
    this.getEx = db.prepare(`SELECT * FROM return_exchanges WHERE authorization = ? ORDER BY sku`);
    this.delEx = db.prepare(`DELETE FROM return_exchanges WHERE authorization = ?`);
    this.exReserved = db.prepare(
      `SELECT COALESCE(SUM(e.approved_qty), 0) AS qty FROM return_exchanges e
       JOIN returns r ON r.authorization = e.authorization
        WHERE r.store = ? AND e.sku = ? AND r.status = 'reserved' AND r.expires_at > ? AND r.authorization <> ?`,
    );
    this.exReservedStore = db.prepare(
      `SELECT e.sku AS sku, SUM(e.approved_qty) AS qty FROM return_exchanges e
       JOIN returns r ON r.authorization = e.authorization
        WHERE r.store = ? AND r.status = 'reserved' AND r.expires_at > ? GROUP BY e.sku`,
    );
    // Refunds approved at a store from a time up to @at: completed ones, and reservations standing
    // at @at (an expired one was still standing before it lapsed).
    this.dayTotal = db.prepare(
      `SELECT COALESCE(SUM(refund_amount), 0) AS total FROM returns
        WHERE store = @store AND created_at >= @since AND created_at <= @at AND exception_code IS NULL
          AND authorization <> @exclude
          AND decision IN ('approved', 'conditional')
          AND (status = 'completed' OR (status IN ('reserved', 'expired') AND expires_at > @at))`,
    );
    // a page in (created_at, authorization) order, and the lines of the tickets of that range (one query each)
    const page = (storeFilter: string): Statement =>
      db.prepare(
        `SELECT * FROM returns WHERE ${storeFilter} (created_at, authorization) > (@afterAt, @afterAuthorization)
          ORDER BY created_at, authorization LIMIT @limit`,
      );
    const pageLines = (storeFilter: string): Statement =>
      db.prepare(
        `SELECT rl.* FROM return_lines rl JOIN returns r ON r.authorization = rl.authorization
          WHERE ${storeFilter} (r.created_at, r.authorization) > (@afterAt, @afterAuthorization)
            AND (r.created_at, r.authorization) <= (@lastAt, @lastAuthorization)
          ORDER BY rl.authorization, rl.line`,
      );
    this.pageOf = { all: page(''), byStore: page('store = @store AND') };
    this.pageLinesOf = { all: pageLines(''), byStore: pageLines('r.store = @store AND') };
  }

  get(authorization: string): ReturnRow | undefined {
    return this.getOne.get(authorization) as ReturnRow | undefined;
  }

  lines(authorization: string): ReturnLineRow[] {
    return this.getLines.all(authorization) as ReturnLineRow[];
  }

  exchanges(authorization: string): ExchangeRow[] {
    return this.getEx.all(authorization) as ExchangeRow[];
  }

  insert(r: ReturnRow, lines: NewReturnLine[], exchanges: Omit<ExchangeRow, 'authorization'>[] = []): void {
    this.storage.tx(() => {
      this.insertRet.run(r);
      for (const l of lines) this.insertLine.run(lineRow(r.authorization, l));
      for (const e of exchanges) this.insertEx.run({ ...e, authorization: r.authorization });
    });
  }

  /** Replaces a ticket, its lines and exchange items (a decision superseding an earlier one). */
  replace(r: ReturnRow, lines: NewReturnLine[], exchanges: Omit<ExchangeRow, 'authorization'>[] = []): void {
    this.storage.tx(() => {
      this.delLines.run(r.authorization);
      this.delEx.run(r.authorization);
      this.update(r);
      for (const l of lines) this.insertLine.run(lineRow(r.authorization, l));
      for (const e of exchanges) this.insertEx.run({ ...e, authorization: r.authorization });
    });
  }

  update(r: ReturnRow): void {
    this.upd.run(r);
  }

  /** A line's completion: the quantity returned and what it was refunded at the sold price. */
  setLine(
    authorization: string,
    line: number,
    completedQty: number,
    approvedQty: number,
    completedAmount: number | null = null,
  ): void {
    this.updLine.run(completedQty, approvedQty, completedAmount, authorization, line);
  }

  /** milli-units claimed per line of `sale` (every store's returns of it) at `nowIso`, leaving out `exclude`. */
  claimedByLine(sale: SaleKey, nowIso: string, exclude = ''): Map<number, number> {
    return this.claimsByLine(sale, nowIso, exclude).milli;
  }

  /**
   * Per line of `sale` (every store's returns of it) at `nowIso`, leaving out `exclude`: the
   * milli-units claimed, and what those returns refund for the line (minor units at the sold
   * price, before fees).
   */
  claimsByLine(
    sale: SaleKey,
    nowIso: string,
    exclude = '',
  ): { milli: Map<number, number>; amount: Map<number, number> } {
    const milli = new Map<number, number>();
    const amount = new Map<number, number>();
    for (const r of this.claimed.all({ store: sale.store, receipt: sale.receipt, now: nowIso, exclude }) as {
      line: number;
      qty: number;
      amount: number | null;
    }[]) {
      milli.set(r.line, r.qty);
      amount.set(r.line, r.amount ?? 0);
    }
    return { milli, amount };
  }

  /** milli-units of `sku` held for exchanges at `store`, leaving out `exclude`. */
  exchangeReserved(store: string, sku: string, nowIso: string, exclude = ''): number {
    return (this.exReserved.get(store, sku, nowIso, exclude) as { qty: number }).qty;
  }

  exchangeReservedByStore(store: string, nowIso: string): Map<string, number> {
    return new Map(
      (this.exReservedStore.all(store, nowIso) as { sku: string; qty: number }[]).map((r) => [r.sku, r.qty]),
    );
  }

  /**
   * Refunds approved at `store` from `sinceIso` (the UTC day's start) up to `atIso`, as they stood
   * at `atIso`, minor units: the day's total now (online) or as of an offline decision's time.
   */
  approvedSince(store: string, sinceIso: string, atIso: string, exclude = ''): number {
    return (this.dayTotal.get({ store, since: sinceIso, at: atIso, exclude }) as { total: number }).total;
  }

  /**
   * A page of tickets (`store`'s, or every store's) in the order they were created, after
   * `query.after`, with their lines: two queries whatever the page's size.
   */
  page(query: ReturnsPageQuery): ReturnsPage {
    const which = query.store === undefined ? 'all' : 'byStore';
    const store = query.store === undefined ? {} : { store: query.store };
    const after = { afterAt: query.after?.createdAt ?? '', afterAuthorization: query.after?.authorization ?? '' };
    // one more than asked: whether there is a next page
    const rows = this.pageOf[which].all({ ...store, ...after, limit: query.limit + 1 }) as ReturnRow[];
    const tickets = rows.slice(0, query.limit);
    const last = tickets.at(-1);
    if (last === undefined) return { tickets: [], next: undefined };
    const lines = new Map<string, ReturnLineRow[]>(tickets.map((t) => [t.authorization, []]));
    const range = { ...store, ...after, lastAt: last.created_at, lastAuthorization: last.authorization };
    for (const line of this.pageLinesOf[which].all(range) as ReturnLineRow[]) lines.get(line.authorization)?.push(line);
    const more = rows.length > query.limit;
    const next = more ? { createdAt: last.created_at, authorization: last.authorization } : undefined;
    return { tickets: tickets.map((ticket) => ({ ticket, lines: lines.get(ticket.authorization) ?? [] })), next };
  }

  list(store?: string): ReturnRow[] {
    return (store ? this.byStore.all(store) : this.all.all()) as ReturnRow[];
  }

  /** Every return of `sale`, at any store. */
  forSale(sale: SaleKey): ReturnRow[] {
    return this.byReceipt.all(sale.store, sale.receipt) as ReturnRow[];
  }

  reservedDue(nowIso: string): ReturnRow[] {
    return this.due.all(nowIso) as ReturnRow[];
  }
}

function lineRow(authorization: string, l: NewReturnLine): ReturnLineRow {
  return {
    ...l,
    authorization,
    amount: l.amount ?? null,
    fee: l.fee ?? null,
    completed_amount: l.completed_amount ?? null,
  };
}
