import { isTbError, TbCodes, TbError } from '@tillbridge/shared';
import { milliToNumber, toMinorUnits } from './amounts.js';
import { datedBy, identityOf, messageId, saleReceipt, type ReceiptKey } from './identity.js';
import { linkedReceipt, type KnownSales } from './links.js';
import { isReturnSale, quantityMilli, skuOf, unitPriceOf } from './items.js';
import { returnMessages, type ReturnCompleteOut, type ReturnItem, type ReturnRequestOut } from './returns.js';
import { readTender, type TenderOut } from './tenders.js';
import { mapTillSettle, tillSettleOf, type DayCloseOut } from './settle.js';
import type { ZoneResolver } from './time.js';
import { currencyOf, isSkipped, lineNumber, timeOf } from './transaction.js';
import { attr, child, childrenNamed, enumValue, textAt, type XNode } from './xml.js';

/**
 * A POSLog / DigitalReceipt document → canonical-shaped messages, in document order. Each
 * RetailTransaction gives a `sale` (its Sale lines) and/or returns (its Return lines, negative
 * Sale lines, or any line of a ReturnTransaction). Control, cancelled, voided, training and
 * suspended transactions, and voided line items, are skipped. Any problem refuses the whole
 * document (TB_INVALID, naming the transaction and element, never a value): nothing of it is
 * applied, and the register can send it again once fixed.
 */

export interface MappingOptions {
  defaultCurrency?: string | undefined;
  minorUnitDigits: number;
  zone: ZoneResolver;
  receiptKey: ReceiptKey;
  maxTransactions: number;
  /** sales this agent has recorded, for links that name no business day */
  known?: KnownSales | undefined;
}

export interface SaleOut {
  type: 'sale';
  id: string;
  receipt: string;
  at: string;
  currency: string;
  lines: { line: number; sku: string; qty: number; unitPrice: number }[];
  tenders: TenderOut[];
}

export type MessageOut = SaleOut | ReturnRequestOut | ReturnCompleteOut | DayCloseOut;

/** What a reply may echo for a message, so the register can tell which transaction it answers. */
export interface MessageRef {
  id: string;
  receipt?: string;
  workstation?: string;
  sequence?: string;
}

export interface Mapped {
  messages: MessageOut[];
  refs: MessageRef[];
}

const DOCUMENT_ROOTS = new Set(['POSLog', 'DigitalReceipt']);

/**
 * POSLog or DigitalReceipt at the root or inside an envelope (FGL's eai:Exchange/eai:Messages), or a bare Transaction.
 */
function documentOf(root: XNode): XNode | undefined {
  let level = [root];
  for (let depth = 0; depth < 4 && level.length > 0; depth++) {
    const found = level.find((n) => DOCUMENT_ROOTS.has(n.name));
    if (found) return found;
    level = level.flatMap((n) => n.children);
  }
  return root.name === 'Transaction' ? root : undefined;
}

export function mapDocument(root: XNode, opts: MappingOptions, digest: string): Mapped {
  const doc = documentOf(root);
  if (doc === undefined) throw new TbError(TbCodes.INVALID, 'expected a POSLog or DigitalReceipt document');
  const txs = doc.name === 'Transaction' ? [doc] : childrenNamed(doc, 'Transaction');
  if (txs.length > opts.maxTransactions)
    throw new TbError(TbCodes.INVALID, `more than ${opts.maxTransactions} transactions in one document`);
  const out: Mapped = { messages: [], refs: [] };
  txs.forEach((tx, i) => {
    try {
      mapTransaction(tx, opts, `${digest}:${i}`, out);
    } catch (err) {
      if (isTbError(err)) throw new TbError(err.code, `Transaction ${i + 1}: ${err.message}`, { cause: err });
      throw err;
    }
  });
  if (out.messages.length === 0) {
    throw new TbError(
      TbCodes.INVALID,
      'no sale, return or till settlement in the document (other control, cancelled, voided and ' +
        'suspended transactions are skipped)',
    );
  }
  return out;
}

function mapTransaction(tx: XNode, opts: MappingOptions, fallback: string, out: Mapped): void {
  const settle = tillSettleOf(tx);
  if (settle !== undefined) {
    if (isSkipped(tx) || isSkipped(settle)) return;
    const identity = identityOf(tx, opts.zone);
    const m = mapTillSettle(tx, settle, opts, identity, fallback);
    out.messages.push(m);
    const ref: MessageRef = { id: m.id };
    if (identity.workstation !== undefined) ref.workstation = identity.workstation;
    if (identity.sequence !== undefined) ref.sequence = identity.sequence;
    out.refs.push(ref);
    return;
  }
  const retail = child(tx, 'RetailTransaction');
  if (retail === undefined || isSkipped(tx) || isSkipped(retail)) return;
  const returnTx = enumValue(attr(tx, 'TypeCode')) === 'returntransaction';
  const { sales, returns, tenders, refunds } = readLineItems(retail, returnTx, opts.minorUnitDigits);
  if (sales.length === 0 && returns.length === 0) return;

  const identity = identityOf(tx, opts.zone, retail);
  const ref = (id: string, receipt?: string): MessageRef => {
    const r: MessageRef = receipt === undefined ? { id } : { id, receipt };
    if (identity.workstation !== undefined) r.workstation = identity.workstation;
    if (identity.sequence !== undefined) r.sequence = identity.sequence;
    return r;
  };
  if (sales.length > 0) {
    const receipt = saleReceipt(identity, opts.receiptKey);
    const sale: SaleOut = {
      type: 'sale',
      id: messageId('sale', identity, fallback),
      receipt,
      at: timeOf(tx, retail, opts.zone),
      currency: currencyOf(tx, retail, opts.defaultCurrency),
      lines: sales,
      tenders,
    };
    out.messages.push(sale);
    out.refs.push(ref(sale.id, receipt));
  }
  if (returns.length > 0) {
    // in an exchange the Sale-typed tenders pay for the sale; otherwise every tender is the refund
    const refundTenders = refunds.length > 0 || sales.length > 0 ? refunds : tenders;
    const links = {
      zone: opts.zone,
      receiptKey: opts.receiptKey,
      store: identity.store,
      returnAt: () => datedBy([tx, retail], opts.zone)?.ms,
      known: opts.known,
      inDocument: out.messages
        .filter((m): m is SaleOut => m.type === 'sale')
        .map((m) => ({ receipt: m.receipt, at: m.at })),
    };
    const seen = new Map<XNode, string | undefined>(); // a shared link is resolved once for all its lines
    const linked = (link: XNode) => {
      if (!seen.has(link)) seen.set(link, linkedReceipt(link, links));
      return seen.get(link);
    };
    for (const m of returnMessages(returns, refundTenders, { tx, retail, identity, linked, fallback })) {
      out.messages.push(m);
      out.refs.push(ref(m.id, m.type === 'return.request' ? m.receipt : undefined));
    }
  }
}

interface LineItems {
  sales: SaleOut['lines'];
  returns: ReturnItem[];
  tenders: TenderOut[];
  refunds: TenderOut[];
}

/** A retail transaction's line items: the items sold and returned, the tenders paid and refunded. */
function readLineItems(retail: XNode, returnTx: boolean, digits: number): LineItems {
  const sales: SaleOut['lines'] = [];
  const returns: ReturnItem[] = [];
  const tenders: TenderOut[] = [];
  const refunds: TenderOut[] = [];
  childrenNamed(retail, 'LineItem').forEach((li, i) => {
    if (isSkipped(li)) return;
    const line = lineNumber(li, i + 1);
    try {
      const sale = child(li, 'Sale');
      const ret = child(li, 'Return');
      const tender = child(li, 'Tender');
      if (sale && !isSkipped(sale)) {
        const milli = quantityMilli(sale);
        if (milli === 0n) return;
        if (returnTx || isReturnSale(sale, milli)) returns.push({ item: sale, milli: milli < 0n ? -milli : milli });
        else if (!isCreditLine(sale, digits))
          sales.push({
            line,
            sku: skuOf(sale),
            qty: milliToNumber(milli),
            unitPrice: unitPriceOf(sale, milli, digits),
          });
      } else if (ret && !isSkipped(ret)) {
        const milli = quantityMilli(ret);
        if (milli !== 0n) returns.push({ item: ret, milli: milli < 0n ? -milli : milli });
      } else if (tender) {
        const t = readTender(tender, digits);
        (t.refund ? refunds : tenders).push(t.tender);
      }
    } catch (err) {
      if (isTbError(err)) throw new TbError(err.code, `LineItem ${line}: ${err.message}`, { cause: err });
      throw err;
    }
  });
  return { sales, returns, tenders, refunds };
}

/** A positive-quantity Sale with a negative ExtendedAmount (deposit refund, price adjustment) is no sold item. */
function isCreditLine(sale: XNode, digits: number): boolean {
  const ext = toMinorUnits(textAt(sale, 'ExtendedAmount'), digits);
  return ext !== undefined && ext < 0;
}
