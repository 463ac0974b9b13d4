import { TbCodes, TbError } from '@tillbridge/shared';
import { divRound, parseDecimal, scaleMilli, toMilli, toMinorUnits } from './amounts.js';
import { attr, child, childrenNamed, enumValue, textAt, type XNode } from './xml.js';

/**
 * One merchandise line (a `Sale` or `Return` element): its item id, signed quantity and unit
 * price. Line discounts (DiscountAmount, RetailPriceModifier, Discount line items, rewards) are
 * ignored: the unit price is the price per unit before them, so it is never negative.
 */

/** Signed quantity in thousandths: Quantity × its Units attribute (default 1; absent Quantity is 1). */
export function quantityMilli(item: XNode): bigint {
  const q = child(item, 'Quantity');
  const milli = q === undefined || q.text === '' ? 1000n : toMilli(q.text);
  if (milli === undefined) throw new TbError(TbCodes.INVALID, `${item.name}/Quantity: expected a decimal quantity`);
  const units = parseDecimal(attr(q, 'Units'));
  return units === undefined || units === 0n ? milli : scaleMilli(milli, units < 0n ? -units : units);
}

/** ItemID, else the first POSIdentity/POSItemID. */
export function skuOf(item: XNode): string {
  const sku =
    textAt(item, 'ItemID') ??
    childrenNamed(item, 'POSIdentity')
      .map((p) => textAt(p, 'POSItemID'))
      .find((s) => s !== undefined);
  if (sku === undefined) throw new TbError(TbCodes.INVALID, `${item.name}: expected ItemID or POSIdentity/POSItemID`);
  if (sku.length > 64) throw new TbError(TbCodes.INVALID, `${item.name}/ItemID: expected at most 64 characters`);
  return sku;
}

function amount(item: XNode, name: string, digits: number): number | undefined {
  const text = textAt(item, name);
  if (text === undefined) return undefined;
  const v = toMinorUnits(text, digits);
  if (v === undefined)
    throw new TbError(TbCodes.INVALID, `${item.name}/${name}: expected a decimal amount with at most 7 decimals`);
  return Math.abs(v);
}

/**
 * Minor units per unit: ActualSalesUnitPrice, else RegularSalesUnitPrice, whichever first
 * reproduces ExtendedAmount (within rounding); else ExtendedAmount ÷ quantity; else the first
 * price given. A price override that only shows in ExtendedAmount (NCR: regular 5.00, extended
 * 2.50) is thereby honoured, and a weighed item keeps its per-kilo price.
 */
export function unitPriceOf(item: XNode, milli: bigint, digits: number): number {
  const abs = milli < 0n ? -milli : milli;
  const prices = [amount(item, 'ActualSalesUnitPrice', digits), amount(item, 'RegularSalesUnitPrice', digits)].filter(
    (p): p is number => p !== undefined,
  );
  const extended = amount(item, 'ExtendedAmount', digits);
  if (extended === undefined || abs === 0n) {
    if (prices[0] !== undefined) return prices[0];
    throw new TbError(
      TbCodes.INVALID,
      `${item.name}: expected a unit price (ActualSalesUnitPrice, RegularSalesUnitPrice) or ExtendedAmount`,
    );
  }
  const qty = Number(abs) / 1000;
  const tolerance = 0.5 * Math.max(1, qty) + 0.5;
  const fits = prices.find((p) => Math.abs(p * qty - extended) <= tolerance);
  if (fits !== undefined) return fits;
  return Number(divRound(BigInt(extended) * 1000n, abs));
}

/** A Sale that is really a return: negative quantity, or roqqio's fu:SalesMode RETOUR. */
export function isReturnSale(item: XNode, milli: bigint): boolean {
  const mode = enumValue(textAt(item, 'SalesMode'));
  return milli < 0n || mode === 'retour' || mode === 'return';
}

/** Free-text reason of a return line, at most 200 characters. */
export function reasonOf(item: XNode): string | undefined {
  const r = textAt(item, 'Reason') ?? textAt(item, 'ReasonCode') ?? textAt(item, 'ReturnReason');
  return r === undefined ? undefined : r.replace(/\s+/g, ' ').slice(0, 200);
}

const RESTOCK = new Set([
  'restock',
  'returntostock',
  'resell',
  'resale',
  'stock',
  'sellable',
  'saleable',
  'backtostock',
]);
const DAMAGED = new Set([
  'damaged',
  'damage',
  'destroy',
  'destroyed',
  'scrap',
  'discard',
  'defective',
  'dispose',
  'waste',
  'returntovendor',
  'rtv',
]);

/** Disposal/Method (or Disposition) → restock | damaged; anything else is left to the default. */
export function dispositionOf(item: XNode): 'restock' | 'damaged' | undefined {
  const disposal = child(item, 'Disposal');
  const raw =
    textAt(disposal, 'Method') ??
    (disposal && disposal.text !== '' ? disposal.text : undefined) ??
    textAt(item, 'Disposition');
  const v = enumValue(raw)?.replace(/[\s_-]/g, '');
  if (v === undefined) return undefined;
  if (RESTOCK.has(v)) return 'restock';
  if (DAMAGED.has(v)) return 'damaged';
  return undefined;
}
