import { derivedId, TbCodes, TbError } from '@tillbridge/shared';
import { attr, child, childrenNamed, enumValue, textAt, type XNode } from './xml.js';

/**
 * Who a transaction is, and the receipt number a sale is known by and a return's link resolves
 * to. Both sides use the same rule so that a later return finds its sale (see docs/poslog.md):
 *   1. se:ReceiptCode (sale) / se:ReceiptCodeLink (return), wherever present;
 *   2. receiptKey "sequence" (default): store-workstation-sequence[-yyyymmdd], else TransactionID;
 *      receiptKey "transaction-id": TransactionID (sale: else ReceiptNumber), else store-workstation-sequence.
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

/** The identity elements of a Transaction (or of a TransactionLink: same element names). */
export function identityOf(node: XNode, retail?: XNode): TxIdentity {
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
  return textAt(node, 'RetailStoreID') ?? textAt(unit, 'UnitID') ?? (unit && unit.children.length === 0 && unit.text !== '' ? unit.text : undefined);
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

function composite(id: TxIdentity): string | undefined {
  if (id.workstation === undefined || id.sequence === undefined) return undefined;
  return [id.store, id.workstation, id.sequence, id.businessDay].filter((p): p is string => p !== undefined).map(part).join('-');
}

function checked(receipt: string | undefined, what: string): string | undefined {
  if (receipt === undefined) return undefined;
  if (receipt.length > MAX_RECEIPT) throw new TbError(TbCodes.INVALID, `${what} is longer than ${MAX_RECEIPT} characters`);
  return receipt;
}

/** The receipt number a sale is recorded under. */
export function saleReceipt(id: TxIdentity, key: ReceiptKey): string {
  const receipt =
    id.receiptCode ??
    (key === 'sequence' ? (composite(id) ?? id.transactionId ?? id.receiptNumber) : (id.transactionId ?? id.receiptNumber ?? composite(id)));
  const ok = checked(receipt, 'the receipt number');
  if (ok === undefined) {
    throw new TbError(TbCodes.INVALID, 'no receipt number: expected se:ReceiptCode, TransactionID, ReceiptNumber, or WorkstationID and SequenceNumber');
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

/** The original sale's receipt named by a TransactionLink; the link's store defaults to the returning store. */
export function linkedReceipt(link: XNode, returningStore: string | undefined, key: ReceiptKey): string | undefined {
  const id = identityOf(link);
  if (id.store === undefined) id.store = returningStore;
  const receipt = key === 'sequence' ? (composite(id) ?? id.transactionId) : (id.transactionId ?? composite(id));
  return checked(receipt, 'the linked receipt number');
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
  const parts = [id.store, id.workstation, id.sequence, id.businessDay, id.transactionId, id.receiptNumber, id.receiptCode].map((p) => p ?? '');
  const anonymous = parts.every((p) => p === '');
  return derivedId('tillbridge:poslog', kind, group, ...(anonymous ? [fallback] : parts));
}
