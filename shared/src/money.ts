import * as z from 'zod';

/** ISO 4217 alphabetic code. */
export const Currency = z.string().regex(/^[A-Z]{3}$/, 'an ISO 4217 code such as "EUR"');

/** Money is always an integer number of minor units (cents, öre, yen). */
export const MinorUnits = z
  .number()
  .int('an integer number of minor units')
  .refine(Number.isSafeInteger, 'a safe integer');

/** Price of `milliQty / 1000` units at `unitPrice` minor units each, rounded half away from zero. */
export function lineAmount(milliQty: number, unitPrice: number): number {
  const v = (milliQty * unitPrice) / 1000;
  return Math.sign(v) * Math.round(Math.abs(v));
}

/**
 * What returning `milliQty` more of a sale line refunds, before fees (DESIGN rule 11: money never
 * grows): the amount for everything returned of the line so far, this return included, minus what
 * was already refunded for it. Pricing each return on its own would round each one up — a unit
 * at 999 returned as 0.5 and 0.5 would refund 500 + 500. Summed over every return of a line, these
 * never exceed what was paid for what was returned.
 *
 * `before`: what earlier returns of the line took (milli-units) and were refunded for it (minor
 * units, at the sold price, before fees).
 */
export function returnAmount(unitPrice: number, before: { milli: number; amount: number }, milliQty: number): number {
  return Math.max(0, lineAmount(before.milli + milliQty, unitPrice) - before.amount);
}

/**
 * The part of `amount` for `part` of `whole` (quantities in milli-units), rounded down: a return
 * completed for less than was approved refunds at most its share of what was authorized, and
 * what is left is released. Exact for any safe integers.
 */
export function shareOf(amount: number, part: number, whole: number): number {
  if (part >= whole) return amount;
  if (part <= 0 || amount <= 0) return 0;
  return Number((BigInt(amount) * BigInt(part)) / BigInt(whole));
}

const exponents = new Map<string, number | null>();

/**
 * Decimals of the currency's minor unit (ISO 4217, from the runtime's ICU data): 2 for EUR, 0 for
 * JPY, 3 for BHD. null for a code that is not a currency code.
 */
export function currencyExponent(currency: string): number | null {
  let e = exponents.get(currency);
  if (e === undefined) {
    try {
      e = new Intl.NumberFormat('en', { style: 'currency', currency }).resolvedOptions().maximumFractionDigits ?? null;
    } catch {
      e = null; // RangeError: not a well-formed currency code
    }
    exponents.set(currency, e);
  }
  return e;
}

/**
 * Integer minor units as an amount for people, in the currency's own decimals: 4897 EUR →
 * "48.97 EUR", 4897 JPY → "4897 JPY", -5 EUR → "-0.05 EUR". A code the runtime does not know is
 * shown as it is stored: "4897 (minor units) XYZ1".
 */
export function formatMoney(minor: number, currency: string): string {
  const exponent = currencyExponent(currency);
  if (exponent === null) return `${minor} (minor units) ${currency}`;
  return `${minorToDecimal(minor, exponent)} ${currency}`;
}

/** Integer minor units → decimal text with `digits` decimals: 1999, 2 → "19.99"; -5, 2 → "-0.05"; 1999, 0 → "1999". */
export function minorToDecimal(minor: number, digits: number): string {
  const sign = minor < 0 ? '-' : '';
  const abs = String(Math.abs(Math.trunc(minor)));
  if (digits === 0) return sign + abs;
  const padded = abs.padStart(digits + 1, '0');
  return `${sign}${padded.slice(0, -digits)}.${padded.slice(-digits)}`;
}

/** A quantity (≤ 3 decimals) as decimal text without a float artefact: 0.42 → "0.42", 2 → "2". */
export function quantityToDecimal(qty: number): string {
  const s = minorToDecimal(Math.round(qty * 1000), 3).replace(/\.?0+$/, '');
  return s === '' || s === '-' ? '0' : s;
}
