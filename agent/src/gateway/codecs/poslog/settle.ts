import { isBusinessDay, TbCodes, TbError } from '@tillbridge/shared';
import { toMinorUnits } from './amounts.js';
import { messageId, type TxIdentity } from './identity.js';
import { tenderKindOf } from './tenders.js';
import { normaliseTimestamp, type ZoneResolver } from './time.js';
import { attr, child, childrenNamed, enumValue, textAt, type XNode } from './xml.js';

/**
 * A till settlement — the register's day close (Z report) — → `day.close` (docs/poslog.md,
 * "Day close"). ARTS writes it as `TenderControlTransaction/TillSettle`; some registers put it
 * under `ControlTransaction`: both are read.
 *
 *   businessDay  the Transaction's BusinessDayDate (or its Date child): required, a real date
 *   closedAt     EndDateTime, else BeginDateTime (Transaction, else TillSettle)
 *   currency     CurrencyCode (Transaction, else TillSettle), else the codec's defaultCurrency
 *   sales        TillSettle/Sales: Count, Amount
 *   returns      TillSettle/Returns: Count, Amount (as an absolute value: refunds are often negative)
 *   tenders      per TillSettle/TenderSummary (LedgerType other than Counted): its Sales children
 *                minus its Refunds children, per TenderType (on the child, else on the summary)
 */
export interface DayCloseOut {
  type: 'day.close';
  id: string;
  businessDay: string;
  closedAt?: string;
  currency?: string;
  sales: { count: number; amount: number };
  returns: { count: number; amount: number };
  tenders: { kind: string; amount: number }[];
}

/** The TillSettle of a Transaction, if it is one. */
export function tillSettleOf(tx: XNode): XNode | undefined {
  for (const holder of ['TenderControlTransaction', 'ControlTransaction']) {
    const settle = child(child(tx, holder), 'TillSettle');
    if (settle) return settle;
  }
  return undefined;
}

function count(node: XNode, where: string): number {
  const t = textAt(node, 'Count');
  if (t === undefined) return 0;
  if (!/^\d{1,9}$/.test(t))
    throw new TbError(TbCodes.INVALID, `${where}/Count: expected a whole number of transactions`);
  return Number(t);
}

function amount(node: XNode, where: string, digits: number): number {
  const t = textAt(node, 'Amount');
  if (t === undefined) return 0;
  const minor = toMinorUnits(t, digits);
  if (minor === undefined)
    throw new TbError(TbCodes.INVALID, `${where}/Amount: expected a decimal amount with at most 7 decimals`);
  return minor;
}

export function mapTillSettle(
  tx: XNode,
  settle: XNode,
  opts: { zone: ZoneResolver; minorUnitDigits: number; defaultCurrency?: string | undefined },
  identity: TxIdentity,
  fallback: string,
): DayCloseOut {
  const dayNode = child(tx, 'BusinessDayDate');
  const dayText = textAt(dayNode, 'Date') ?? (dayNode && dayNode.text !== '' ? dayNode.text : undefined);
  const day = dayText?.slice(0, 10);
  if (day === undefined || !isBusinessDay(day))
    throw new TbError(
      TbCodes.INVALID,
      'BusinessDayDate: a till settlement needs the business day it closes, a date YYYY-MM-DD',
    );
  const sales = child(settle, 'Sales');
  const returns = child(settle, 'Returns');
  const summaries = childrenNamed(settle, 'TenderSummary').filter(
    (s) => enumValue(attr(s, 'LedgerType')) !== 'counted',
  );
  if (!sales && !returns && summaries.length === 0)
    throw new TbError(TbCodes.INVALID, 'TillSettle: expected Sales, Returns or TenderSummary totals');
  const digits = opts.minorUnitDigits;
  const tenders = new Map<string, number>();
  for (const s of summaries) {
    for (const [names, sign] of [
      [['Sales', 'Sale'], 1],
      [['Refunds', 'Refund'], -1],
    ] as const) {
      for (const name of names) {
        for (const el of childrenNamed(s, name)) {
          const kind = tenderKindOf(el, s);
          tenders.set(
            kind,
            (tenders.get(kind) ?? 0) + sign * Math.abs(amount(el, `TillSettle/TenderSummary/${name}`, digits)),
          );
        }
      }
    }
  }
  const out: DayCloseOut = {
    type: 'day.close',
    id: messageId('day.close', identity, fallback),
    businessDay: day,
    sales: sales
      ? { count: count(sales, 'TillSettle/Sales'), amount: amount(sales, 'TillSettle/Sales', digits) }
      : { count: 0, amount: 0 },
    returns: returns
      ? { count: count(returns, 'TillSettle/Returns'), amount: Math.abs(amount(returns, 'TillSettle/Returns', digits)) }
      : { count: 0, amount: 0 },
    tenders: [...tenders.entries()].map(([kind, a]) => ({ kind, amount: a })),
  };
  for (const name of ['EndDateTime', 'BeginDateTime']) {
    const t = textAt(tx, name) ?? textAt(settle, name);
    if (t === undefined) continue;
    const at = normaliseTimestamp(t, opts.zone);
    if (at === undefined)
      throw new TbError(TbCodes.INVALID, `${name}: expected an ISO 8601 date-time such as 2026-11-27T21:05:00`);
    out.closedAt = at;
    break;
  }
  const currency = [textAt(tx, 'CurrencyCode'), textAt(settle, 'CurrencyCode'), opts.defaultCurrency].find(
    (c) => c !== undefined && /^[A-Z]{3}$/.test(c) && c !== 'XXX',
  );
  if (currency !== undefined) out.currency = currency;
  return out;
}
