import { z } from 'zod';

/** ISO 4217 alphabetic code. */
export const Currency = z.string().regex(/^[A-Z]{3}$/, 'an ISO 4217 code such as "EUR"');

/** Money is always an integer number of minor units (cents, öre, yen). */
export const MinorUnits = z.number().int('an integer number of minor units').refine(Number.isSafeInteger, 'a safe integer');

/** Price of `milliQty / 1000` units at `unitPrice` minor units each, rounded half away from zero. */
export function lineAmount(milliQty: number, unitPrice: number): number {
  const v = (milliQty * unitPrice) / 1000;
  return Math.sign(v) * Math.round(Math.abs(v));
}

export function formatMoney(minor: number, currency: string, exponent = 2): string {
  const sign = minor < 0 ? '-' : '';
  const abs = Math.abs(minor);
  if (exponent === 0) return `${sign}${abs} ${currency}`;
  const s = String(abs).padStart(exponent + 1, '0');
  return `${sign}${s.slice(0, -exponent)}.${s.slice(-exponent)} ${currency}`;
}
