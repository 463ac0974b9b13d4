import XMLBuilder from 'fast-xml-builder';
import {
  currencyExponent,
  isBusinessDay,
  isMaskedPan,
  lineAmount,
  minorToDecimal,
  quantityToDecimal,
  TbCodes,
  TbError,
} from '@tillbridge/shared';
import type { Feed, FeedEntry } from './feed.js';

/**
 * A store's business day from the ERP feed as an ARTS POSLog document (docs/erp-feed.md, "POSLog export of a business
 * day"),
 * for back offices that import POSLog: one Transaction per `sale.recorded` and per
 * `return.completed` of that store and day, in feed order. Amounts are minor units in Tillbridge
 * and decimal text here (the currency's decimals); card numbers go out only masked (first 6 /
 * last 4), anything else in a `pan` field is left out.
 */

export const ARTS_NAMESPACE = 'http://www.nrf-arts.org/IXRetail/namespace/';
/** What the export takes from the feed. */
export const POSLOG_TYPES = ['sale.recorded', 'return.completed'] as const;

/**
 * Decimals of a currency's minor unit (ISO 4217, from the runtime's data: 2 for EUR, 0 for JPY, 3 for KWD); 2 for an
 * unknown code.
 */
export function currencyDecimalsOf(currency: string | undefined): number {
  return currency === undefined ? 2 : (currencyExponent(currency) ?? 2);
}

/** The original sale of a return, as far as the exporter needs it (its currency and unit prices). */
export interface OriginalSale {
  currency: string;
  lines: { line: number; unitPrice: number }[];
}

export interface PoslogExportOptions {
  store: string;
  /** YYYY-MM-DD, the business day (the date in the store's time zone) */
  day: string;
  /**
   * Decimals of the minor unit: one number for every currency, or per currency code; default ISO 4217 (2, JPY 0, KWD
   * 3…).
   */
  currencyDecimals?: number | Readonly<Record<string, number>> | undefined;
  /**
   * Looks up a return's original sale (its currency and unit prices: the return's CurrencyCode and
   * line amounts). Sales in the same export are found without it.
   */
  saleOf?: ((store: string, receipt: string) => OriginalSale | undefined) | undefined;
}

/** Checks the store and day of an export: a TB_INVALID naming the parameter. */
export function checkExportTarget(store: unknown, day: unknown): { store: string; day: string } {
  if (typeof store !== 'string' || store.trim() === '')
    throw new TbError(TbCodes.INVALID, 'store: expected a store id');
  if (store.length > 64) throw new TbError(TbCodes.INVALID, 'store: expected at most 64 characters');
  if (typeof day !== 'string' || !isBusinessDay(day)) {
    throw new TbError(
      TbCodes.INVALID,
      `day: expected a real date YYYY-MM-DD, got ${JSON.stringify(typeof day === 'string' ? day.slice(0, 40) : day)}`,
    );
  }
  return { store, day };
}

/**
 * The store's entries of that business day (sales and completed returns), read from the feed a
 * page at a time by position: never more than one page in memory.
 */
export function* feedDayEntries(
  feed: Pick<Feed, 'read'>,
  store: string,
  day: string,
  pageSize = 500,
): Generator<FeedEntry> {
  let position = 0;
  for (;;) {
    const { entries, next } = feed.read(position, pageSize, { store, day, types: POSLOG_TYPES });
    yield* entries;
    if (next <= position) return;
    position = next;
  }
}

const builder = new XMLBuilder({
  ignoreAttributes: false,
  attributeNamePrefix: '@_',
  textNodeName: '#text',
  format: true,
  indentBy: '  ',
  suppressEmptyNode: true,
  processEntities: true,
});

/** What XML 1.0 cannot carry (see clean). */
const NOT_IN_XML = new RegExp(
  String.raw`[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]` +
    String.raw`|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]`,
  'g',
);

/** XML 1.0 cannot carry C0 controls (but tab, CR, LF), U+FFFE/U+FFFF or lone surrogates: they become U+FFFD. */
function clean(v: string): string {
  return v.replace(NOT_IN_XML, '\uFFFD');
}

/** A value as element or attribute text (XMLBuilder escapes & < > ' " itself). */
function text(v: unknown): string {
  return clean(String(v));
}

/** Tillbridge tender kinds → ARTS TenderType. */
const TENDER_TYPES: Record<string, string> = {
  cash: 'Cash',
  card: 'CreditDebit',
  giftcard: 'GiftCard',
  coupon: 'Coupon',
  check: 'Check',
  voucher: 'Voucher',
  loyalty: 'Loyalty',
  mixed: 'Mixed',
};

const tenderType = (kind: string): string => TENDER_TYPES[kind] ?? kind;

const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);
const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);

type XmlObject = Record<string, unknown>;

interface SaleData {
  store: string;
  receipt: string;
  register: string | null;
  channel?: string;
  at: string;
  currency: string;
  total?: number;
  lines: { line: number; sku: string; qty: number; unitPrice: number }[];
  tenders: { kind: string; amount: number; pan?: string }[];
}

interface ReturnData {
  authorization: string;
  store: string;
  register: string | null;
  receipt: string | null;
  receiptStore: string | null;
  refund: { amount: number; kind: string | null } | null;
  lines: { line: number | null; sku: string | null; completedQty: number; disposition?: string | null }[];
  updatedAt?: string;
}

/** A tender (or refund) line item; the PAN only when it is masked. */
function tenderItem(
  seq: number,
  kind: string,
  amount: number,
  digits: number,
  typeCode: 'Sale' | 'Refund',
  pan: string | undefined,
): XmlObject {
  const tender: XmlObject = {
    '@_TenderType': text(tenderType(kind)),
    '@_TypeCode': typeCode,
    Amount: minorToDecimal(amount, digits),
  };
  // never a full card number: what is not plainly masked (first 6 / last 4 at most) is left out
  if (pan !== undefined && isMaskedPan(pan)) tender.CreditDebit = { PrimaryAccountNumber: pan.replace(/[\s-]/g, '') };
  return { SequenceNumber: seq, Tender: tender };
}

function header(
  store: string,
  register: string | null,
  sequence: string,
  transactionId: string | undefined,
  day: string,
  at: string,
  currency: string | undefined,
): XmlObject {
  return {
    RetailStoreID: text(store),
    ...(register ? { WorkstationID: text(register) } : {}),
    SequenceNumber: text(sequence),
    ...(transactionId !== undefined ? { TransactionID: text(transactionId) } : {}),
    BusinessDayDate: day,
    BeginDateTime: text(at),
    EndDateTime: text(at),
    ...(currency ? { CurrencyCode: text(currency) } : {}),
  };
}

function saleTransaction(d: SaleData, day: string, digits: (c: string | undefined) => number): XmlObject {
  const n = digits(d.currency);
  const items: XmlObject[] = [];
  let gross = 0;
  let seq = 0;
  for (const l of d.lines) {
    const ext = lineAmount(Math.round(l.qty * 1000), l.unitPrice);
    gross += ext;
    seq = Math.max(seq, l.line);
    items.push({
      SequenceNumber: l.line,
      Sale: {
        '@_ItemType': 'Stock',
        ItemID: text(l.sku),
        RegularSalesUnitPrice: minorToDecimal(l.unitPrice, n),
        ExtendedAmount: minorToDecimal(ext, n),
        Quantity: quantityToDecimal(l.qty),
      },
    });
  }
  let tendered = 0;
  for (const t of d.tenders) {
    tendered += t.amount;
    items.push(tenderItem(++seq, t.kind, t.amount, n, 'Sale', t.pan));
  }
  const total = d.total ?? gross;
  return {
    // TransactionID: the receipt number as the hub knows it (a SequenceNumber alone is not unique across days)
    ...header(d.store, d.register, d.receipt, d.receipt, day, d.at, d.currency),
    RetailTransaction: {
      '@_TransactionStatus': 'Finished',
      LineItem: items,
      Total: [
        { '@_TotalType': 'TransactionGrossAmount', '#text': minorToDecimal(gross, n) },
        { '@_TotalType': 'TransactionGrandAmount', '#text': minorToDecimal(total, n) },
        { '@_TotalType': 'TransactionTenderApplied', '#text': minorToDecimal(tendered, n) },
      ],
    },
  };
}

function returnTransaction(
  d: ReturnData,
  at: string,
  day: string,
  original: OriginalSale | undefined,
  digits: (c: string | undefined) => number,
): XmlObject {
  const currency = original?.currency;
  const n = digits(currency);
  const prices = new Map(original?.lines.map((l) => [l.line, l.unitPrice]) ?? []);
  const items: XmlObject[] = [];
  let seq = 0;
  let gross = 0;
  for (const l of d.lines) {
    if (!(l.completedQty > 0)) continue;
    const link: XmlObject = {
      '@_ReasonCode': 'Return',
      ...((d.receiptStore ?? d.store) ? { RetailStoreID: text(d.receiptStore ?? d.store) } : {}),
      ...(d.receipt ? { TransactionID: text(d.receipt) } : {}),
      ...(l.line !== null ? { LineItemSequenceNumber: l.line } : {}),
    };
    const price = l.line !== null ? prices.get(l.line) : undefined;
    const ret: XmlObject = {
      '@_ItemType': 'Stock',
      ...(d.receipt ? { TransactionLink: link } : {}),
      ...(l.sku ? { ItemID: text(l.sku) } : {}),
    };
    if (price !== undefined) {
      const ext = lineAmount(Math.round(l.completedQty * 1000), price);
      gross += ext;
      ret.RegularSalesUnitPrice = minorToDecimal(price, n);
      ret.ExtendedAmount = minorToDecimal(ext, n);
    }
    ret.Quantity = quantityToDecimal(l.completedQty);
    if (l.disposition === 'restock' || l.disposition === 'damaged')
      ret.Disposal = { Method: l.disposition === 'restock' ? 'ReturnToStock' : 'Damaged' };
    items.push({ SequenceNumber: ++seq, Return: ret });
  }
  const refund = d.refund;
  if (refund) items.push(tenderItem(++seq, refund.kind ?? 'other', refund.amount, n, 'Refund', undefined));
  const totals: XmlObject[] = [];
  // amounts of a return are positive, marked TypeCode="Return" (as ARTS DigitalReceipt returns are)
  if (prices.size > 0)
    totals.push({ '@_TotalType': 'TransactionGrossAmount', '@_TypeCode': 'Return', '#text': minorToDecimal(gross, n) });
  if (refund) {
    totals.push({
      '@_TotalType': 'TransactionGrandAmount',
      '@_TypeCode': 'Return',
      '#text': minorToDecimal(refund.amount, n),
    });
    totals.push({
      '@_TotalType': 'TransactionTenderApplied',
      '@_TypeCode': 'Return',
      '#text': minorToDecimal(refund.amount, n),
    });
  }
  return {
    '@_TypeCode': 'ReturnTransaction',
    ...header(d.store, d.register, d.authorization, undefined, day, at, currency),
    RetailTransaction: {
      '@_TransactionStatus': 'Finished',
      LineItem: items,
      ...(totals.length > 0 ? { Total: totals } : {}),
    },
  };
}

/** One feed entry → one Transaction element's XML, or undefined when it is not one to export. */
function transactionXml(
  e: FeedEntry,
  opts: PoslogExportOptions,
  digits: (c: string | undefined) => number,
  sold: Map<string, OriginalSale>,
): string | undefined {
  if (e.store !== opts.store || e.businessDay !== opts.day) return undefined;
  let tx: XmlObject;
  if (e.type === 'sale.recorded') {
    const d = e.data as unknown as SaleData;
    if (!str(d.receipt) || !Array.isArray(d.lines)) return undefined;
    const sale: SaleData = {
      ...d,
      store: str(d.store) ?? opts.store,
      at: str(d.at) ?? e.at,
      currency: str(d.currency) ?? '',
      tenders: Array.isArray(d.tenders) ? d.tenders : [],
    };
    if (num(d.total) === undefined) delete sale.total;
    if (sold.size < 100_000)
      sold.set(`${sale.store}\u0000${sale.receipt}`, { currency: sale.currency, lines: sale.lines });
    tx = saleTransaction(sale, opts.day, digits);
  } else if (e.type === 'return.completed') {
    const d = e.data as unknown as ReturnData;
    if (!str(d.authorization) || !Array.isArray(d.lines)) return undefined;
    const r: ReturnData = {
      ...d,
      store: str(d.store) ?? opts.store,
      register: str(d.register) ?? null,
      receipt: str(d.receipt) ?? null,
      receiptStore: str(d.receiptStore) ?? null,
    };
    const from = r.receiptStore ?? r.store;
    const original = r.receipt ? (sold.get(`${from}\u0000${r.receipt}`) ?? opts.saleOf?.(from, r.receipt)) : undefined;
    tx = returnTransaction(r, e.at, opts.day, original, digits);
  } else {
    return undefined;
  }
  return builder.build({ Transaction: tx });
}

/**
 * The document in pieces, as it is made (for a streamed answer): the declaration and the POSLog
 * start tag, then one Transaction at a time, then the end tag. `entries` are read once, in order.
 */
export function* poslogDayChunks(entries: Iterable<FeedEntry>, opts: PoslogExportOptions): Generator<string> {
  checkExportTarget(opts.store, opts.day);
  const digits = (c: string | undefined): number => {
    const d = opts.currencyDecimals;
    if (typeof d === 'number') return d;
    const given = c !== undefined && d !== undefined ? d[c] : undefined;
    return given ?? currencyDecimalsOf(c);
  };
  const sold = new Map<string, OriginalSale>();
  yield (
    `<?xml version="1.0" encoding="UTF-8"?>\n` +
    `<POSLog xmlns="${ARTS_NAMESPACE}" MajorVersion="6" MinorVersion="0" FixVersion="0">\n`
  );
  for (const e of entries) {
    const xml = transactionXml(e, opts, digits, sold);
    if (xml !== undefined) yield xml;
  }
  yield '</POSLog>\n';
}

/** The store's business day as one POSLog document (see poslogDayChunks). */
export function exportPoslogDay(entries: Iterable<FeedEntry>, opts: PoslogExportOptions): string {
  let out = '';
  for (const c of poslogDayChunks(entries, opts)) out += c;
  return out;
}
