import { derivedId, TbCodes, TbError } from '@tillbridge/shared';
import { localDay, normaliseTimestamp, type ZoneResolver } from './time.js';
import { attr, child, childrenNamed, enumValue, textAt, type XNode } from './xml.js';

/**
 * Who a transaction is, and the receipt number a sale is known by and a return's link resolves
 * to. Both sides use the same rule so that a later return finds its sale (see docs/poslog.md):
 *   1. se:ReceiptCode (sale) / se:ReceiptCodeLink (return), wherever present;
 *   2. receiptKey "sequence" (default): store-workstation-sequence-yyyymmdd, else TransactionID, else ReceiptNumber;
 *      receiptKey "transaction-id": TransactionID, else ReceiptNumber, else store-workstation-sequence-yyyymmdd.
 * The day is the BusinessDayDate, else the register's calendar date of the transaction's
 * BeginDateTime (else EndDateTime, ReceiptDateTime, POSLogDateTime). How a link that names no
 * day is resolved is in links.ts.
 */
export type ReceiptKey = 'sequence' | 'transaction-id';

export interface TxIdentity {
  store?: string | undefined;
  workstation?: string | undefined;
  sequence?: string | undefined;
  /** yyyymmdd */
  businessDay?: string | undefined;
  transactionId?: string | undefined;
  receiptNumber?: string | undefined;
  receiptCode?: string | undefined;
}

const MAX_RECEIPT = 64;

/** The times that date a transaction naming no business day, in order: when it began comes first. */
export const DAY_TIMES = ['BeginDateTime', 'EndDateTime', 'ReceiptDateTime', 'POSLogDateTime'] as const;

export interface Dated {
  /** yyyymmdd in the register's time zone */
  day: string;
  /** the instant, ms since the epoch */
  ms: number;
}

/**
 * The first of DAY_TIMES found on `nodes` (in order), as a register-local day and an instant.
 * `where` prefixes the element name in the error a malformed value gets.
 */
export function datedBy(nodes: (XNode | undefined)[], zone: ZoneResolver, where = ''): Dated | undefined {
  for (const name of DAY_TIMES) {
    for (const node of nodes) {
      const text = textAt(node, name);
      if (text === undefined) continue;
      const day = localDay(text, zone);
      const iso = normaliseTimestamp(text, zone);
      if (day === undefined || iso === undefined) {
        throw new TbError(
          TbCodes.INVALID,
          `${where}${name}: expected an ISO 8601 date-time such as 2026-11-27T10:15:00 or 2026-11-27T10:15:00+01:00`,
        );
      }
      return { day, ms: Date.parse(iso) };
    }
  }
  return undefined;
}

/** The identity elements of a Transaction, its business day derived from its times when it states none. */
export function identityOf(node: XNode, zone: ZoneResolver, retail?: XNode): TxIdentity {
  const id = statedIdentityOf(node, retail);
  id.businessDay ??= datedBy([node, retail], zone)?.day;
  return id;
}

/** The identity elements as written (also of a TransactionLink: same element names). */
export function statedIdentityOf(node: XNode, retail?: XNode): TxIdentity {
  return {
    store: storeOf(node),
    workstation: textAt(node, 'WorkstationID'),
    sequence: textAt(node, 'SequenceNumber'),
    businessDay: businessDay(node),
    transactionId: textAt(node, 'TransactionID'),
    receiptNumber: textAt(node, 'ReceiptNumber') ?? textAt(retail, 'ReceiptNumber'),
    receiptCode: textAt(node, 'ReceiptCode') ?? textAt(retail, 'ReceiptCode'),
  };
}

function storeOf(node: XNode): string | undefined {
  const unit = child(node, 'BusinessUnit');
  return (
    textAt(node, 'RetailStoreID') ??
    textAt(unit, 'UnitID') ??
    (unit?.children.length === 0 && unit.text !== '' ? unit.text : undefined)
  );
}

function businessDay(node: XNode): string | undefined {
  const el = child(node, 'BusinessDayDate');
  const text = textAt(el, 'Date') ?? (el && el.text !== '' ? el.text : undefined);
  if (text === undefined) return undefined;
  const m = /^(\d{4})-(\d{2})-(\d{2})/.exec(text);
  return m ? `${m[1]}${m[2]}${m[3]}` : text;
}

/** All-digit parts lose leading zeros, so a link's `000161` finds the sale's `161`. */
function part(v: string): string {
  return /^\d+$/.test(v) ? v.replace(/^0+(?=\d)/, '') : v.replace(/\s+/g, ' ');
}

/** `store-workstation-sequence`, the receipt number without its day; undefined without workstation or sequence. */
export function sequencePrefix(id: TxIdentity): string | undefined {
  if (id.workstation === undefined || id.sequence === undefined) return undefined;
  return [id.store, id.workstation, id.sequence]
    .filter((p): p is string => p !== undefined)
    .map(part)
    .join('-');
}

/** `prefix-yyyymmdd` (a day that is not eight digits keeps its form, as parts do). */
export function withDay(prefix: string, day: string | undefined): string {
  return day === undefined ? prefix : `${prefix}-${part(day)}`;
}

function composite(id: TxIdentity): string | undefined {
  const prefix = sequencePrefix(id);
  return prefix === undefined ? undefined : withDay(prefix, id.businessDay);
}

export function checked(receipt: string | undefined, what: string): string | undefined {
  if (receipt === undefined) return undefined;
  if (receipt.length > MAX_RECEIPT)
    throw new TbError(TbCodes.INVALID, `${what} is longer than ${MAX_RECEIPT} characters`);
  return receipt;
}

/** The receipt number a sale is recorded under. */
export function saleReceipt(id: TxIdentity, key: ReceiptKey): string {
  const receipt =
    id.receiptCode ??
    (key === 'sequence'
      ? (composite(id) ?? id.transactionId ?? id.receiptNumber)
      : (id.transactionId ?? id.receiptNumber ?? composite(id)));
  const ok = checked(receipt, 'the receipt number');
  if (ok === undefined) {
    throw new TbError(
      TbCodes.INVALID,
      'no receipt number: expected se:ReceiptCode, TransactionID, ReceiptNumber, or WorkstationID and SequenceNumber',
    );
  }
  return ok;
}

/** TransactionLink ReasonCodes that point a return at its sale (absent counts as Return). */
const RETURN_REASONS = new Set(['return', 'refund', 'exchange', 'returnsale', 'salereturn']);

export function linkReason(link: XNode): string | undefined {
  return enumValue(attr(link, 'ReasonCode') ?? textAt(link, 'ReasonCode'));
}

/** The TransactionLinks directly under `node` that name an original sale. */
export function returnLinks(node: XNode | undefined): XNode[] {
  return childrenNamed(node, 'TransactionLink').filter((l) => {
    const r = linkReason(l);
    return r === undefined || RETURN_REASONS.has(r);
  });
}

/** The original line number a TransactionLink names, if it is a line number. */
export function linkedLine(link: XNode): number | undefined {
  const t = textAt(link, 'LineItemSequenceNumber');
  if (t === undefined || !/^\d{1,6}$/.test(t)) return undefined;
  const n = Number(t);
  return n >= 1 && n <= 100_000 ? n : undefined;
}

/**
 * A message id that depends only on the transaction's identity (and the message's kind and
 * group), so a retransmitted document is the same id. A transaction without any identity
 * element falls back to the document digest and its position in the document.
 */
export function messageId(kind: string, id: TxIdentity, fallback: string, group = ''): string {
  const parts = [
    id.store,
    id.workstation,
    id.sequence,
    id.businessDay,
    id.transactionId,
    id.receiptNumber,
    id.receiptCode,
  ].map((p) => p ?? '');
  const anonymous = parts.every((p) => p === '');
  return derivedId('tillbridge:poslog', kind, group, ...(anonymous ? [fallback] : parts));
}
