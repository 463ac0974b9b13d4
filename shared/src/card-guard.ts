import { containsTrackData, FORBIDDEN_CARD_FIELDS, findCardNumbers, isGtin, maskCardNumbersIn } from './card.js';

/**
 * Card data in a message of any shape, where a sender may have put it: the register gateway's and the hub's imports'
 * one rule (docs/security.md). Sensitive authentication data (track data, CVV, PIN) is refused wherever it appears; a
 * card number is masked in free text and refused in an identifier.
 */

const FORBIDDEN = new Set<string>(FORBIDDEN_CARD_FIELDS.map((f) => f.toLowerCase()));

/** Fields of free text where a card number is masked rather than refused. */
const FREE_TEXT = new Set(['reason', 'detail', 'state', 'kind']);
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
    } else if (v && typeof v === 'object') {
      const inner = sweepCardNumbers(v as Record<string, unknown>, p);
      if (inner) return inner;
    }
  }
  return undefined;
}

/** The path of the first forbidden card field or track-data-shaped string, if any. */
export function findForbiddenCardData(v: unknown, depth = 0, path = ''): string | undefined {
  if (depth > 8) return undefined;
  if (typeof v === 'string') return containsTrackData(v) ? path || 'a value' : undefined;
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) {
      const f = findForbiddenCardData(v[i], depth + 1, `${path}[${i}]`);
      if (f) return f;
    }
    return undefined;
  }
  if (v && typeof v === 'object') {
    for (const [k, val] of Object.entries(v)) {
      const p = path ? `${path}.${k}` : k;
      if (FORBIDDEN.has(k.toLowerCase())) return p;
      const f = findForbiddenCardData(val, depth + 1, p);
      if (f) return f;
    }
  }
  return undefined;
}
