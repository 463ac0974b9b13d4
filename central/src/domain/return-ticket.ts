import type { Evaluation } from '@tillbridge/shared';
import { toMilli } from '@tillbridge/shared';
import type { ExchangeRow, NewReturnLine, ReturnRow } from './returns-repo.js';

/** Lines asked for by SKU that matched no receipt line are stored as -1, -2… (the request's position). */
export function storedLine(line: number, index: number): number {
  return line > 0 ? line : -(index + 1);
}

export interface RequestForTicket {
  lines: { disposition: 'restock' | 'damaged'; reason?: string | undefined }[];
}

/** The ticket's lines and exchange items from an evaluation, in request order. */
export function ticketLines(
  ev: Evaluation,
  req: RequestForTicket,
): { lines: NewReturnLine[]; exchanges: Omit<ExchangeRow, 'authorization'>[] } {
  return {
    lines: ev.lines.map((l, i) => ({
      line: storedLine(l.line, i),
      asked_sku: l.askedBySku ?? null,
      requested_qty: l.requestedMilli,
      approved_qty: l.approvedMilli,
      completed_qty: 0,
      disposition: req.lines[i]?.disposition ?? 'restock',
      code: l.code,
      reason: req.lines[i]?.reason ?? null,
      amount: l.amount,
      fee: l.fee,
      completed_amount: null,
    })),
    exchanges: ev.exchange.map((e) => ({
      sku: e.sku,
      qty: toMilli(e.qty),
      approved_qty: toMilli(e.approvedQty),
      code: e.code,
    })),
  };
}

/** The columns of a ticket an evaluation decides. */
export function decidedColumns(
  ev: Evaluation,
  opts: { reservationMs: number; now: number; policyVersion: number },
): Pick<
  ReturnRow,
  | 'decision'
  | 'status'
  | 'reason'
  | 'refund_amount'
  | 'gross_refund'
  | 'fees'
  | 'rules'
  | 'allowed_tenders'
  | 'conditions'
  | 'expires_at'
  | 'policy_version'
> {
  const holds = ev.decision !== 'denied';
  return {
    decision: ev.decision,
    status: holds ? 'reserved' : 'denied',
    reason: ev.reason ?? null,
    refund_amount: ev.refundAmount,
    gross_refund: ev.grossRefund,
    fees: ev.fees,
    rules: JSON.stringify(ev.rules),
    allowed_tenders: JSON.stringify(ev.allowedTenders),
    conditions: JSON.stringify(ev.conditions),
    expires_at: holds ? new Date(opts.now + opts.reservationMs).toISOString() : null,
    policy_version: opts.policyVersion,
  };
}

export const EMPTY_TICKET: Omit<
  ReturnRow,
  'authorization' | 'store' | 'register' | 'request_id' | 'receipt' | 'mode' | 'created_at' | 'updated_at'
> = {
  decision: 'denied',
  status: 'denied',
  reconciliation: null,
  exception_code: null,
  reason: null,
  refund_amount: 0,
  refund_kind: null,
  expires_at: null,
  completed_at: null,
  rules: '[]',
  allowed_tenders: '[]',
  conditions: '[]',
  gross_refund: 0,
  fees: 0,
  policy_version: 0,
  kind: null,
  override_by: null,
  override_at: null,
  late_online: 0,
  card_hash: null,
  request: '{}',
  resolution: null,
  resolved_at: null,
  resolved_by: null,
  resolution_note: null,
  sale_store: null,
};

/** What every view of a return ticket begins with (webhooks, the admin API): which, where, and what was decided. */
export function ticketHeader(r: ReturnRow) {
  return {
    authorization: r.authorization,
    store: r.store,
    register: r.register,
    receipt: r.receipt || null,
    receiptStore: r.sale_store,
    mode: r.mode,
    decision: r.decision,
    status: r.status,
    kind: r.kind,
  };
}
