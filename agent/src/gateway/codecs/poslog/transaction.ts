import { TbCodes, TbError } from '@tillbridge/shared';
import { normaliseTimestamp, type ZoneResolver } from './time.js';
import { attr, child, findAttr, isTrue, enumValue, textAt, type XNode } from './xml.js';

/** Transaction-level facts: skipped or not, currency, time. */

const SKIP_FLAGS = ['CancelFlag', 'VoidFlag', 'TrainingModeFlag'];
const SKIP_STATUS = new Set(['voided', 'void', 'cancelled', 'canceled', 'suspended', 'postvoided', 'aborted']);

/** Cancelled, voided, training-mode or suspended transactions (and line items) have no effect. */
export function isSkipped(node: XNode): boolean {
  if (SKIP_FLAGS.some((f) => isTrue(attr(node, f)) || isTrue(textAt(node, f)))) return true;
  const status = enumValue(attr(node, 'TransactionStatus') ?? textAt(node, 'TransactionStatus'));
  return status !== undefined && SKIP_STATUS.has(status);
}

const isCurrency = (v: string) => /^[A-Z]{3}$/.test(v) && v !== 'XXX';

/** CurrencyCode of the transaction, else the first Currency/CurrencyCode attribute inside it, else the default. */
export function currencyOf(tx: XNode, retail: XNode, fallback: string | undefined): string {
  for (const t of [textAt(tx, 'CurrencyCode'), textAt(retail, 'CurrencyCode')])
    if (t !== undefined && isCurrency(t)) return t;
  const found = findAttr(retail, ['Currency', 'CurrencyCode'], isCurrency, 4) ?? fallback;
  if (found === undefined)
    throw new TbError(
      TbCodes.INVALID,
      'CurrencyCode: expected an ISO 4217 code in the transaction, or a defaultCurrency in the codec config',
    );
  return found;
}

const TIME_ELEMENTS = ['EndDateTime', 'ReceiptDateTime', 'BeginDateTime', 'POSLogDateTime'];

/** EndDateTime, else ReceiptDateTime, BeginDateTime, POSLogDateTime, else midnight of BusinessDayDate. */
export function timeOf(tx: XNode, retail: XNode, zone: ZoneResolver): string {
  for (const name of TIME_ELEMENTS) {
    const t = textAt(tx, name) ?? textAt(retail, name);
    if (t === undefined) continue;
    const at = normaliseTimestamp(t, zone);
    if (at === undefined)
      throw new TbError(
        TbCodes.INVALID,
        `${name}: expected an ISO 8601 date-time such as 2026-11-27T10:15:00 or 2026-11-27T10:15:00+01:00`,
      );
    return at;
  }
  const day = child(tx, 'BusinessDayDate');
  const d = textAt(day, 'Date') ?? (day && day.text !== '' ? day.text : undefined);
  const at = normaliseTimestamp(d, zone);
  if (at === undefined)
    throw new TbError(
      TbCodes.INVALID,
      'expected EndDateTime, ReceiptDateTime, BeginDateTime or BusinessDayDate with an ISO 8601 value',
    );
  return at;
}

/** LineItem/SequenceNumber when it is a usable line number, else the line item's position. */
export function lineNumber(lineItem: XNode, position: number): number {
  const t = textAt(lineItem, 'SequenceNumber');
  if (t !== undefined && /^\d{1,6}$/.test(t)) {
    const n = Number(t);
    if (n >= 1 && n <= 100_000) return n;
  }
  return position;
}
