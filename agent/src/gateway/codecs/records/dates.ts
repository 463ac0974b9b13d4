import { zoneOffsetAt } from '@tillbridge/shared';

/**
 * Register dates: fixed-width formats built from YYYY, YY, MM, DD, hh, mm, ss and literal
 * characters (e.g. "YYYYMMDDhhmmss", "DDMMYY", "DD.MM.YYYY hh:mm"), read as wall-clock time in
 * the profile's time zone and written out as ISO 8601 with that zone's offset.
 */

type Token = 'YYYY' | 'YY' | 'MM' | 'DD' | 'hh' | 'mm' | 'ss';
type Part = { token: Token } | { literal: string };
const TOKENS: readonly Token[] = ['YYYY', 'YY', 'MM', 'DD', 'hh', 'mm', 'ss'];

const compiled = new Map<string, Part[] | undefined>();

/** The parts of a format, or undefined when it lacks a day, month and year or repeats a token. */
export function compileFormat(format: string): Part[] | undefined {
  if (compiled.has(format)) return compiled.get(format);
  const parts: Part[] = [];
  const seen = new Set<string>();
  let ok = true;
  for (let i = 0; i < format.length;) {
    const token = TOKENS.find((t) => format.startsWith(t, i));
    if (token) {
      const kind = token === 'YY' ? 'YYYY' : token;
      if (seen.has(kind)) ok = false;
      seen.add(kind);
      parts.push({ token });
      i += token.length;
    } else {
      parts.push({ literal: format.charAt(i) });
      i++;
    }
  }
  const result = ok && seen.has('YYYY') && seen.has('MM') && seen.has('DD') ? parts : undefined;
  if (compiled.size < 256) compiled.set(format, result);
  return result;
}

const OFFSET = /^([+-])(\d{2}):(\d{2})$/;

export function isTimeZone(zone: string): boolean {
  if (zone === 'UTC' || zone === 'Z') return true;
  const m = OFFSET.exec(zone);
  if (m) return Number(m[2]) <= 14 && Number(m[3]) < 60;
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}

/** Minutes east of UTC in `zone` at the instant `utcMs`. */
function offsetAt(zone: string, utcMs: number): number {
  if (zone === 'UTC' || zone === 'Z') return 0;
  const m = OFFSET.exec(zone);
  if (m) return (m[1] === '-' ? -1 : 1) * (Number(m[2]) * 60 + Number(m[3]));
  return zoneOffsetAt(zone, utcMs);
}

const two = (n: number) => String(n).padStart(2, '0');

function offsetText(zone: string, minutes: number): string {
  if (zone === 'UTC' || zone === 'Z') return 'Z';
  const a = Math.abs(minutes);
  return `${minutes < 0 ? '-' : '+'}${two(Math.floor(a / 60))}:${two(a % 60)}`;
}

/**
 * `text` read with `format` as wall-clock time in `zone`, as ISO 8601 with offset; undefined when it is not such a
 * date.
 */
export function parseDate(text: string, format: string, zone: string): string | undefined {
  const parts = compileFormat(format);
  if (!parts) return undefined;
  const v = { YYYY: 0, MM: 1, DD: 1, hh: 0, mm: 0, ss: 0 };
  let i = 0;
  for (const part of parts) {
    if ('literal' in part) {
      if (text[i] !== part.literal) return undefined;
      i++;
      continue;
    }
    const digits = text.slice(i, i + part.token.length);
    if (!/^\d+$/.test(digits) || digits.length !== part.token.length) return undefined;
    i += part.token.length;
    if (part.token === 'YY') v.YYYY = 2000 + Number(digits);
    else v[part.token] = Number(digits);
  }
  if (i !== text.length) return undefined;
  if (v.YYYY < 1900 || v.hh > 23 || v.mm > 59 || v.ss > 59) return undefined;
  const wall = Date.UTC(v.YYYY, v.MM - 1, v.DD, v.hh, v.mm, v.ss);
  const check = new Date(wall);
  if (check.getUTCMonth() !== v.MM - 1 || check.getUTCDate() !== v.DD) return undefined;
  let off = offsetAt(zone, wall);
  const again = offsetAt(zone, wall - off * 60_000);
  if (again !== off) off = again;
  return isoWall(wall - off * 60_000, zone, offsetAt(zone, wall - off * 60_000));
}

function isoWall(utcMs: number, zone: string, off: number): string {
  const d = new Date(utcMs + off * 60_000);
  const date = `${String(d.getUTCFullYear()).padStart(4, '0')}-${two(d.getUTCMonth() + 1)}-${two(d.getUTCDate())}`;
  return `${date}T${two(d.getUTCHours())}:${two(d.getUTCMinutes())}:${two(d.getUTCSeconds())}${offsetText(zone, off)}`;
}

/** An ISO 8601 instant written with `format` as wall-clock time in `zone`; undefined when `iso` is no date. */
export function formatDate(iso: string, format: string, zone: string): string | undefined {
  const parts = compileFormat(format);
  const ms = Date.parse(iso);
  if (!parts || Number.isNaN(ms)) return undefined;
  const d = new Date(ms + offsetAt(zone, ms) * 60_000);
  const v: Record<Token, string> = {
    YYYY: String(d.getUTCFullYear()).padStart(4, '0'),
    YY: two(d.getUTCFullYear() % 100),
    MM: two(d.getUTCMonth() + 1),
    DD: two(d.getUTCDate()),
    hh: two(d.getUTCHours()),
    mm: two(d.getUTCMinutes()),
    ss: two(d.getUTCSeconds()),
  };
  return parts.map((p) => ('literal' in p ? p.literal : v[p.token])).join('');
}
