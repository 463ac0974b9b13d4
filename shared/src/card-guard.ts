import { containsTrackData, FORBIDDEN_CARD_FIELDS, findCardNumbers, isGtin, maskCardNumbersIn } from './card.js';

/**
 * Card data in a message of any shape, where a sender may have put it: the register gateway's and the hub's imports'
 * one rule (docs/security.md). Sensitive authentication data (track data, CVV, PIN) is refused wherever it appears; a
 * card number is masked in free text and refused in an identifier.
 */

const FORBIDDEN = new Set<string>(FORBIDDEN_CARD_FIELDS.map((f) => f.toLowerCase()));

/** Fields of free text where a card number is masked rather than refused. */
const FREE_TEXT = new Set(['reason', 'detail', 'state', 'kind']);
/** The smallest number with as many digits as the shortest card number (13). */
const MIN_CARD_NUMBER = 1e12;

/** Fields that already hold a masked number or a keyed hash. */
const CARD_FIELDS = new Set(['pan', 'panHash', 'cardHash']);

/** Masks card numbers in free text; returns the path of an identifier holding one (refused). */
export function sweepCardNumbers(node: Record<string, unknown> | unknown[], path = ''): string | undefined {
  const entries: [string | number, unknown][] = Array.isArray(node) ? node.map((v, i) => [i, v]) : Object.entries(node);
  for (const [k, v] of entries) {
    const p = typeof k === 'number' ? `${path}[${k}]` : path ? `${path}.${k}` : k;
    if (typeof v === 'string') {
      if (typeof k === 'string' && CARD_FIELDS.has(k)) continue;
      // free text: every card number in it masked, wherever it stands (after another number too)
      if (typeof k === 'string' && FREE_TEXT.has(k) && !Array.isArray(node)) {
        node[k] = maskCardNumbersIn(v);
        continue;
      }
      // a SKU that is a valid barcode (EAN/UPC/GTIN) is a barcode, however it scores as a card number
      if (k === 'sku' && isGtin(v)) continue;
      if (findCardNumbers(v).length > 0) return p;
    } else if (typeof v === 'number') {
      // a card number typed into a number field (a price, an amount, a count) is one all the same: refused
      if (Math.abs(v) >= MIN_CARD_NUMBER && Number.isSafeInteger(v) && findCardNumbers(String(v)).length > 0) return p;
    } else if (v && typeof v === 'object') {
      const inner = sweepCardNumbers(v as Record<string, unknown>, p);
      if (inner) return inner;
    }
  }
  return undefined;
}

/**
 * The path of the first forbidden card field or track-data-shaped string, if any, however deep it stands (walked
 * without recursion: a frame's size bounds the work, and no nesting can overflow the stack).
 */
export function findForbiddenCardData(v: unknown, path = ''): string | undefined {
  const todo: { v: unknown; path: string; key?: string }[] = [{ v, path }];
  for (let next = todo.pop(); next; next = todo.pop()) {
    if (next.key !== undefined && FORBIDDEN.has(next.key.toLowerCase())) return next.path;
    const value = next.v;
    if (typeof value === 'string') {
      if (containsTrackData(value)) return next.path || 'a value';
      continue;
    }
    if (!value || typeof value !== 'object') continue;
    // depth first, in order: pushed last to first
    const at = next.path;
    const children: { v: unknown; path: string; key?: string }[] = Array.isArray(value)
      ? (value as unknown[]).map((c, i) => ({ v: c, path: `${at}[${i}]` }))
      : Object.entries(value as Record<string, unknown>).map(([k, c]) => ({
          v: c,
          path: at ? `${at}.${k}` : k,
          key: k,
        }));
    for (let i = children.length - 1; i >= 0; i--) {
      const child = children[i];
      if (child) todo.push(child);
    }
  }
  return undefined;
}
