import * as z from 'zod';

/**
 * Quantities on the wire are numbers with at most three decimals (units, or kilograms for
 * weighed goods). Inside Tillbridge they are integer thousandths ("milli-units") so that sums
 * and comparisons are exact.
 */
export const MILLI = 1000;

export function toMilli(qty: number): number {
  return Math.round(qty * MILLI);
}

export function fromMilli(milli: number): number {
  return milli / MILLI;
}

function hasAtMostThreeDecimals(n: number): boolean {
  return Math.abs(n * MILLI - Math.round(n * MILLI)) < 1e-6;
}

/** A strictly positive quantity with at most three decimals. */
export const Quantity = z
  .number()
  .positive('a positive quantity')
  .max(1_000_000, 'at most 1000000')
  .refine(hasAtMostThreeDecimals, 'at most three decimals');

/** A quantity that may be zero (approved quantities). */
export const QuantityOrZero = z
  .number()
  .min(0, 'zero or more')
  .max(1_000_000, 'at most 1000000')
  .refine(hasAtMostThreeDecimals, 'at most three decimals');
