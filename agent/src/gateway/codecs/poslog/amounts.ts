/**
 * Decimal text from a POSLog document → exact integers. Amounts have 0 to 7 decimals (trailing
 * zeros beyond that are fine: `704.470000000`) and become integer minor units; quantities keep 3
 * decimals (weights such as 0.42 kg). Rounding is half away from zero. No floating point is used
 * on the way in, so 0.1 + 0.2 problems cannot appear.
 */

/** Fixed-point scale of a parsed decimal: 7 digits after the point. */
const SCALE_DIGITS = 7;
const DECIMAL = /^([+-]?)(\d{0,15})(?:\.(\d*))?$/;

/** The value × 10^7 as a bigint, or undefined when the text is not a plain decimal with ≤ 7 significant decimals. */
export function parseDecimal(text: string | undefined): bigint | undefined {
  if (text === undefined) return undefined;
  const m = DECIMAL.exec(text.trim());
  if (!m) return undefined;
  const int = m[2] ?? '';
  const frac = (m[3] ?? '').replace(/0+$/, '');
  if (int === '' && (m[3] === undefined || m[3] === '')) return undefined;
  if (frac.length > SCALE_DIGITS) return undefined;
  const v = BigInt((int || '0') + frac.padEnd(SCALE_DIGITS, '0'));
  return m[1] === '-' ? -v : v;
}

/** a / b rounded half away from zero (b > 0). */
export function divRound(a: bigint, b: bigint): bigint {
  const neg = a < 0n;
  const abs = neg ? -a : a;
  let q = abs / b;
  if ((abs % b) * 2n >= b) q += 1n;
  return neg ? -q : q;
}

function rescale(scaled: bigint, digits: number): bigint {
  return divRound(scaled, 10n ** BigInt(SCALE_DIGITS - digits));
}

/** Decimal text → signed integer minor units with `digits` decimals, or undefined. */
export function toMinorUnits(text: string | undefined, digits: number): number | undefined {
  const v = parseDecimal(text);
  if (v === undefined) return undefined;
  const n = Number(rescale(v, digits));
  return Number.isSafeInteger(n) ? n : undefined;
}

/** Decimal text → signed thousandths (milli-units), rounded to 3 decimals, or undefined. */
export function toMilli(text: string | undefined): bigint | undefined {
  const v = parseDecimal(text);
  return v === undefined ? undefined : rescale(v, 3);
}

/** milli × the decimal `factor`, still in thousandths. */
export function scaleMilli(milli: bigint, factor: bigint): bigint {
  return divRound(milli * factor, 10n ** BigInt(SCALE_DIGITS));
}

export function milliToNumber(milli: bigint): number {
  return Number(milli) / 1000;
}

/**
 * Minor units and quantities as decimal text: one implementation, in shared (the hub's POSLog export writes them too).
 */
export { minorToDecimal as formatMinor, quantityToDecimal as formatQuantity } from '@tillbridge/shared';
