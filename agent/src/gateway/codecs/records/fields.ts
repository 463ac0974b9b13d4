import { formatDate, parseDate } from './dates.js';

/**
 * Field conversions, both ways: a record field's text ↔ a canonical value. Failures say what was
 * expected and never repeat the text they were given (it may be card data).
 */

export interface Units {
  /** Decimals of the currency's minor unit (2 for EUR: 1999 minor units = 19.99). */
  currencyDecimals: number;
  timeZone: string;
}

export interface Conversion {
  /** `day`: a calendar date (a business day) → YYYY-MM-DD, no time and no zone. */
  as: 'text' | 'int' | 'money' | 'qty' | 'date' | 'day' | 'index';
  decimals?: number | undefined;
  format?: string | undefined;
  trim?: 'both' | 'start' | 'end' | 'none' | undefined;
  map?: Record<string, string | number> | undefined;
  mapDefault?: string | number | undefined;
}

export type Parsed = { ok: true; value: string | number | undefined } | { ok: false; expected: string };

const SIGNED = /^([+-]?)(\d{1,15})$|^(\d{1,15})([+-])$/;

/** Digits with an optional leading or trailing sign (`-1999`, `1999-`), as an integer. */
function parseSigned(text: string): number | undefined {
  const m = SIGNED.exec(text);
  if (!m) return undefined;
  const digits = m[2] ?? m[3] ?? '';
  const sign = m[1] ?? m[4]; // '' (no sign) or undefined in the alternative not taken
  const n = Number(digits);
  return sign === '-' ? -n : n;
}

function trimmed(raw: string, how: Conversion['trim']): string {
  switch (how ?? 'both') {
    case 'both':
      return raw.trim();
    case 'start':
      return raw.trimStart();
    case 'end':
      return raw.trimEnd();
    default:
      return raw;
  }
}

function mapKeys(map: Record<string, unknown>): string {
  const keys = Object.keys(map);
  const shown = keys
    .slice(0, 12)
    .map((k) => JSON.stringify(k))
    .join(', ');
  return keys.length > 12 ? `${shown}, …` : shown;
}

/** A field's text as a canonical value; blank text is no value (the key is left out). */
export function parseField(raw: string, c: Conversion, u: Units): Parsed {
  const text = trimmed(raw, c.trim);
  if (text.length === 0) return { ok: true, value: undefined };
  if (c.map) {
    if (Object.hasOwn(c.map, text)) return { ok: true, value: c.map[text] };
    if (c.mapDefault !== undefined) return { ok: true, value: c.mapDefault };
    return { ok: false, expected: `one of ${mapKeys(c.map)}` };
  }
  switch (c.as) {
    case 'int': {
      const n = parseSigned(text);
      return n === undefined ? { ok: false, expected: 'a whole number' } : { ok: true, value: n };
    }
    case 'money': {
      const d = c.decimals ?? u.currencyDecimals;
      const n = parseSigned(text);
      const expected = `digits with ${d} implied decimal${d === 1 ? '' : 's'}`;
      if (n === undefined) return { ok: false, expected };
      const shift = u.currencyDecimals - d;
      if (shift >= 0) return { ok: true, value: n * 10 ** shift };
      const div = 10 ** -shift;
      return n % div === 0
        ? { ok: true, value: n / div }
        : { ok: false, expected: `${expected}, a whole number of minor units` };
    }
    case 'qty': {
      const d = c.decimals ?? 0;
      const n = parseSigned(text);
      return n === undefined
        ? { ok: false, expected: `digits with ${d} implied decimal${d === 1 ? '' : 's'}` }
        : { ok: true, value: n / 10 ** d };
    }
    case 'date': {
      const iso = parseDate(text, c.format ?? '', u.timeZone);
      return iso === undefined
        ? { ok: false, expected: `a date as ${c.format ?? '(no format)'}` }
        : { ok: true, value: iso };
    }
    case 'day': {
      // the date as written: read in UTC, so no zone moves it to another day
      const iso = parseDate(text, c.format ?? '', 'UTC');
      return iso === undefined
        ? { ok: false, expected: `a date as ${c.format ?? '(no format)'}` }
        : { ok: true, value: iso.slice(0, 10) };
    }
    default:
      return { ok: true, value: text };
  }
}

/** A reply value as text, before fitting it to its field; undefined when it cannot be written. */
export function formatField(value: unknown, c: Conversion, u: Units): { text: string; numeric: boolean } | undefined {
  if (c.map) {
    const key = String(value);
    if (Object.hasOwn(c.map, key)) return { text: String(c.map[key]), numeric: false };
    if (c.mapDefault !== undefined) return { text: String(c.mapDefault), numeric: false };
  }
  switch (c.as) {
    case 'int':
      return typeof value === 'number' && Number.isSafeInteger(value)
        ? { text: String(value), numeric: true }
        : undefined;
    case 'money': {
      if (typeof value !== 'number' || !Number.isSafeInteger(value)) return undefined;
      const shift = (c.decimals ?? u.currencyDecimals) - u.currencyDecimals;
      if (shift >= 0) return { text: String(value * 10 ** shift), numeric: true };
      const div = 10 ** -shift;
      return value % div === 0 ? { text: String(value / div), numeric: true } : undefined;
    }
    case 'qty': {
      if (typeof value !== 'number' || !Number.isFinite(value)) return undefined;
      const scaled = value * 10 ** (c.decimals ?? 0);
      const n = Math.round(scaled);
      return Math.abs(scaled - n) < 1e-6 && Number.isSafeInteger(n) ? { text: String(n), numeric: true } : undefined;
    }
    case 'date': {
      const text = typeof value === 'string' ? formatDate(value, c.format ?? '', u.timeZone) : undefined;
      return text === undefined ? undefined : { text, numeric: false };
    }
    default:
      return { text: String(value), numeric: false };
  }
}

export interface Fit {
  width: number;
  numeric: boolean;
  align?: 'left' | 'right' | undefined;
  pad?: string | undefined;
}

/**
 * Text padded to exactly `width` characters. Numbers align right with zeros (a sign goes first:
 * `-0001999`) and never lose digits: one that does not fit gives undefined. Text aligns left
 * with spaces and is cut to the width.
 */
export function fitText(text: string, f: Fit): string | undefined {
  const align = f.align ?? (f.numeric ? 'right' : 'left');
  const pad = f.pad ?? (f.numeric ? '0' : ' ');
  if (f.numeric) {
    const neg = text.startsWith('-');
    const digits = neg ? text.slice(1) : text;
    if (text.length > f.width) return undefined;
    if (align === 'left') return text.padEnd(f.width, pad);
    return pad === '0' ? (neg ? '-' : '') + digits.padStart(f.width - (neg ? 1 : 0), '0') : text.padStart(f.width, pad);
  }
  const cut = Array.from(text).slice(0, f.width).join('');
  return align === 'left' ? cut.padEnd(f.width, pad) : cut.padStart(f.width, pad);
}
