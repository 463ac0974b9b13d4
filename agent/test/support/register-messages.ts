/** A register's sale `id` on `receipt` at `at`: `qty` of item A at `unitPrice` (EUR minor units), paid in cash. */
export function cashSale(id: string, receipt: string, at: string, qty: number, unitPrice: number) {
  return {
    type: 'sale' as const,
    id,
    receipt,
    at,
    currency: 'EUR',
    lines: [{ line: 1, sku: 'A', qty, unitPrice }],
    tenders: [{ kind: 'cash', amount: qty * unitPrice }],
  };
}
