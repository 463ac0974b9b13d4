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
  /** the receipt's line number, or… */
  line?: number | undefined;
  /** …the SKU, resolved to a line of the receipt */
  sku?: string | undefined;
  /** as sent: units, up to three decimals */
  qty: number;
}

export interface JudgedLine {
  /** the receipt's line (resolved from the SKU when asked by SKU); 0 when none matched */
  line: number;
  /** set when the request named the line by SKU */
  askedBySku?: string;
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

const NOT_FOUND_REASONS: Partial<Record<LineCode, string>> = {
  [LineCodes.RECEIPT_UNKNOWN_OFFLINE]:
    'receipt not sold at this store; the hub cannot be reached to check other stores',
  [LineCodes.RECEIPT_AMBIGUOUS]:
    'receipt issued at more than one other store: ask again naming the store that issued it (originalStore)',
};

export function judgeReturn(
  sold: SoldLine[] | undefined,
  claimedMilli: ReadonlyMap<number, number>,
  requested: RequestedLine[],
  notFoundCode: LineCode = LineCodes.RECEIPT_NOT_FOUND,
): Judgement {
  if (!sold) {
    return {
      decision: 'denied',
      lines: requested.map((r) =>
        withSku({ line: r.line ?? 0, requestedMilli: toMilli(r.qty), approvedMilli: 0, code: notFoundCode }, r),
      ),
      refund: 0,
      reason: NOT_FOUND_REASONS[notFoundCode] ?? 'receipt not found',
    };
  }
  const byLine = new Map(sold.map((s) => [s.line, s]));
  // A line asked for by SKU resolves to a receipt line no other line of this request names, with
  // enough left (else the first such line, which is then refused as exceeding what is left).
  const named = new Set(requested.flatMap((r) => (r.line !== undefined ? [r.line] : [])));
  const chosen = new Set<number>();
  let refund = 0;
  const lines: JudgedLine[] = requested.map((r) => {
    const want = toMilli(r.qty);
    let s: SoldLine | undefined;
    if (r.line !== undefined) s = byLine.get(r.line);
    else {
      const candidates = sold.filter((x) => x.sku === r.sku && !named.has(x.line) && !chosen.has(x.line));
      s = candidates.find((x) => x.qty - (claimedMilli.get(x.line) ?? 0) >= want) ?? candidates[0];
      if (s) chosen.add(s.line);
    }
    if (!s)
      return withSku({ line: r.line ?? 0, requestedMilli: want, approvedMilli: 0, code: LineCodes.LINE_NOT_FOUND }, r);
    const left = s.qty - (claimedMilli.get(s.line) ?? 0);
    if (want > left)
      return withSku(
        {
          line: s.line,
          requestedMilli: want,
          approvedMilli: 0,
          code: LineCodes.EXCEEDS_RETURNABLE,
          sku: s.sku,
          unitPrice: s.unitPrice,
        },
        r,
      );
    refund += lineAmount(want, s.unitPrice);
    return withSku(
      {
        line: s.line,
        requestedMilli: want,
        approvedMilli: want,
        code: LineCodes.OK,
        sku: s.sku,
        unitPrice: s.unitPrice,
      },
      r,
    );
  });
  const refused = lines.filter((l) => l.code !== LineCodes.OK);
  const decision: Decision = refused.length < lines.length ? 'approved' : 'denied';
  const j: Judgement = { decision, lines, refund };
  if (refused.length > 0)
    j.reason = refused
      .map((l) => `${l.askedBySku !== undefined && l.line === 0 ? `sku ${l.askedBySku}` : `line ${l.line}`}: ${l.code}`)
      .join('; ');
  return j;
}

function withSku(j: JudgedLine, r: RequestedLine): JudgedLine {
  if (r.line === undefined && r.sku !== undefined) j.askedBySku = r.sku;
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

/** The lines of a decision as a register sees them. */
export function decisionLines(j: Judgement): { line: number; sku?: string; approvedQty: number; code: string }[] {
  return j.lines.map((l) =>
    l.askedBySku === undefined
      ? { line: l.line, approvedQty: fromMilli(l.approvedMilli), code: l.code }
      : { line: l.line, sku: l.askedBySku, approvedQty: fromMilli(l.approvedMilli), code: l.code },
  );
}

/** A receipt line as a lookup shows it: sold and still returnable in units (what is claimed taken off). */
export interface ReturnableLine {
  line: number;
  sku: string;
  qty: number;
  unitPrice: number;
  returnable: number;
}

/**
 * The lines of a sale as a receipt lookup answers them (the hub's `receipt.lookup`, an agent's
 * from what it holds): each line's quantity in units and what is left of it to return — what was
 * sold minus `claimedMilli` (returned or reserved), never below 0.
 */
export function returnableLines(
  sold: readonly SoldLine[],
  claimedMilli: ReadonlyMap<number, number>,
): ReturnableLine[] {
  return sold.map((l) => ({
    line: l.line,
    sku: l.sku,
    qty: fromMilli(l.qty),
    unitPrice: l.unitPrice,
    returnable: fromMilli(Math.max(0, l.qty - (claimedMilli.get(l.line) ?? 0))),
  }));
}
