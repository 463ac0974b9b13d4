/** A canonical sale line, written [line, sku, qty, unitPrice] (the price in minor units). */
export type SaleLine = [line: number, sku: string, qty: number, unitPrice: number];
/** A canonical tender, written [kind, amount] (minor units), with its masked card number where it has one. */
export type Tender = [kind: string, amount: number, pan?: string];

/** Sale lines as the canonical model has them, from [line, sku, qty, unitPrice] each. */
export function saleLines(...lines: SaleLine[]): { line: number; sku: string; qty: number; unitPrice: number }[] {
  return lines.map(([line, sku, qty, unitPrice]) => ({ line, sku, qty, unitPrice }));
}

/** Tenders as the canonical model has them, from [kind, amount] (or [kind, amount, pan]) each. */
export function tenderList(...tenders: Tender[]): { kind: string; amount: number; pan?: string }[] {
  return tenders.map(([kind, amount, pan]) => (pan === undefined ? { kind, amount } : { kind, amount, pan }));
}

/**
 * What the canonical sale of a decoded document must hold (for `toMatchObject`): a sale of `receipt` at `at` in
 * `currency`, with these lines and these tenders, in this order.
 */
export function canonicalSale(
  receipt: string,
  at: string,
  currency: string,
  lines: ReturnType<typeof saleLines>,
  ...tenders: Tender[]
) {
  return { type: 'sale', receipt, at, currency, lines, tenders: tenderList(...tenders) };
}
