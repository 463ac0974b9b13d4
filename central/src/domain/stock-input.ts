/** A SKU as the admin API and imports take it: 1-64 characters without spaces or commas. */
export const SKU = /^[^\s,]{1,64}$/;

/** A stock quantity: zero or more, at most a billion, with at most three decimals. */
export function isStockQty(v: unknown): v is number {
  return (
    typeof v === 'number' &&
    Number.isFinite(v) &&
    v >= 0 &&
    v <= 1e9 &&
    Math.abs(v * 1000 - Math.round(v * 1000)) < 1e-6
  );
}
