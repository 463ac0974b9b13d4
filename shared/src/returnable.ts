import { lineAmount } from './money.js';
import { fromMilli, toMilli } from './quantity.js';
import { LineCodes, type Decision, type LineCode } from './register-protocol.js';

/**
 * The quantity rule both the hub (authoritative, online) and an agent (offline, from what it
 * knows) apply: a line may be returned only up to what was sold minus what is already returned
 * or reserved. A line asking for more than is left is refused whole (the cashier sees why);
 * the other lines of the request are judged on their own. The decision is `approved` when at
 * least one line is.
 */

export interface SoldLine {
  line: number;
  sku: string;
  /** milli-units */
  qty: number;
  unitPrice: number;
}

export interface RequestedLine {
  line: number;
  /** as sent: units, up to three decimals */
  qty: number;
}

export interface JudgedLine {
  line: number;
  /** requested, milli-units */
  requestedMilli: number;
  /** approved, milli-units */
  approvedMilli: number;
  code: LineCode;
  sku?: string;
  unitPrice?: number;
}

export interface Judgement {
  decision: Decision;
  lines: JudgedLine[];
  /** Refund for the approved lines at their sold prices (minor units). */
  refund: number;
  reason?: string;
}

export function judgeReturn(
  sold: SoldLine[] | undefined,
  claimedMilli: ReadonlyMap<number, number>,
  requested: RequestedLine[],
  notFoundCode: LineCode = LineCodes.RECEIPT_NOT_FOUND,
): Judgement {
  if (!sold) {
    return {
      decision: 'denied',
      lines: requested.map((r) => ({ line: r.line, requestedMilli: toMilli(r.qty), approvedMilli: 0, code: notFoundCode })),
      refund: 0,
      reason: notFoundCode === LineCodes.RECEIPT_NOT_FOUND ? 'receipt not found' : 'receipt not sold at this store; the hub cannot be reached to check other stores',
    };
  }
  const byLine = new Map(sold.map((s) => [s.line, s]));
  let refund = 0;
  const lines: JudgedLine[] = requested.map((r) => {
    const want = toMilli(r.qty);
    const s = byLine.get(r.line);
    if (!s) return { line: r.line, requestedMilli: want, approvedMilli: 0, code: LineCodes.LINE_NOT_FOUND };
    const left = s.qty - (claimedMilli.get(r.line) ?? 0);
    if (want > left) return { line: r.line, requestedMilli: want, approvedMilli: 0, code: LineCodes.EXCEEDS_RETURNABLE, sku: s.sku, unitPrice: s.unitPrice };
    refund += lineAmount(want, s.unitPrice);
    return { line: r.line, requestedMilli: want, approvedMilli: want, code: LineCodes.OK, sku: s.sku, unitPrice: s.unitPrice };
  });
  const refused = lines.filter((l) => l.code !== LineCodes.OK);
  const decision: Decision = refused.length < lines.length ? 'approved' : 'denied';
  const j: Judgement = { decision, lines, refund };
  if (refused.length > 0) j.reason = refused.map((l) => `line ${l.line}: ${l.code}`).join('; ');
  return j;
}

/** Refuses every line with `code` (used when a limit applies to the whole return). */
export function refuseAll(j: Judgement, code: LineCode, reason: string): Judgement {
  return {
    decision: 'denied',
    lines: j.lines.map((l) => ({ ...l, approvedMilli: 0, code: l.code === LineCodes.OK ? code : l.code })),
    refund: 0,
    reason,
  };
}

export function decisionLines(j: Judgement): { line: number; approvedQty: number; code: string }[] {
  return j.lines.map((l) => ({ line: l.line, approvedQty: fromMilli(l.approvedMilli), code: l.code }));
}
