import { zoneOffsetAt } from '@tillbridge/shared';

/**
 * POSLog date-times → ISO 8601 with a zone. A value with a zone (`Z`, `+01:00`, `+0100`, `+01`)
 * keeps it; a value without one gets the configured time zone: `Z`, a fixed offset such as
 * `+01:00`, or an IANA zone such as `Europe/Stockholm` (the offset in force at that local time,
 * so summer time is right). Up to 9 fractional digits are read; milliseconds are kept.
 * A bare date (`2017-09-30`, e.g. BusinessDayDate) is midnight of that day.
 */

/** A register's time zone. */
export interface ZoneResolver {
  /** The offset (`Z` or `±hh:mm`) for a local wall-clock time given as UTC fields. */
  (wallAsUtcMs: number): string;
  /** The offset from UTC, in minutes, in force at an instant. */
  offsetAt(utcMs: number): number;
}

const OFFSET = /^([+-])(\d{2}):?(\d{2})?$/;
const STAMP =
  /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?)?\s*(Z|[+-]\d{2}(?::?\d{2})?)?$/i;

/** True when `zone` is `Z`, an offset within ±14:00, or an IANA time zone this Node knows. */
export function isValidZone(zone: string): boolean {
  return zoneResolver(zone) !== undefined;
}

function fixedZone(offset: string): ZoneResolver {
  const m = OFFSET.exec(offset);
  const minutes = m ? (m[1] === '-' ? -1 : 1) * (Number(m[2]) * 60 + Number(m[3] ?? '0')) : 0;
  return Object.assign(() => offset, { offsetAt: () => minutes });
}

export function zoneResolver(zone: string): ZoneResolver | undefined {
  if (zone === 'Z' || zone === 'UTC') return fixedZone('Z');
  const fixed = normaliseOffset(zone);
  if (fixed !== undefined) return fixedZone(fixed);
  if (!/^[A-Za-z][A-Za-z0-9_+\-/]{1,63}$/.test(zone)) return undefined;
  try {
    zoneOffsetAt(zone, 0); // a zone this Node does not know throws
  } catch {
    return undefined;
  }
  const offsetAt = (utcMs: number): number => zoneOffsetAt(zone, utcMs);
  const forWall = (wallMs: number): string => {
    const first = offsetAt(wallMs);
    const second = offsetAt(wallMs - first * 60_000);
    return formatOffset(second);
  };
  return Object.assign(forWall, { offsetAt });
}

function normaliseOffset(text: string): string | undefined {
  const m = OFFSET.exec(text);
  if (!m) return undefined;
  const h = Number(m[2]);
  const min = Number(m[3] ?? '0');
  if (h > 14 || min > 59 || (h === 14 && min > 0)) return undefined;
  return h === 0 && min === 0 ? 'Z' : `${m[1]}${m[2]}:${String(min).padStart(2, '0')}`;
}

function formatOffset(minutes: number): string {
  if (minutes === 0) return 'Z';
  const abs = Math.abs(minutes);
  const two = (n: number) => String(n).padStart(2, '0');
  return `${minutes < 0 ? '-' : '+'}${two(Math.floor(abs / 60))}:${two(abs % 60)}`;
}

/** `2017-10-01T02:01:31` → `2017-10-01T02:01:31Z` (zone `Z`); undefined when it is no valid date-time. */
export function normaliseTimestamp(text: string | undefined, zone: ZoneResolver): string | undefined {
  if (text === undefined) return undefined;
  const m = STAMP.exec(text.trim());
  if (!m) return undefined;
  const [year, month, day] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const [hour, minute, second] = [Number(m[4] ?? '0'), Number(m[5] ?? '0'), Number(m[6] ?? '0')];
  if (month < 1 || month > 12 || day < 1 || day > daysIn(year, month)) return undefined;
  if (hour > 23 || minute > 59 || second > 59) return undefined;
  const frac = (m[7] ?? '').slice(0, 3).replace(/0+$/, '');
  let offset: string | undefined;
  if (m[8] !== undefined) offset = m[8].toUpperCase() === 'Z' ? 'Z' : normaliseOffset(m[8]);
  else offset = zone(Date.UTC(year, month - 1, day, hour, minute, second));
  if (offset === undefined) return undefined;
  const two = (n: number) => String(n).padStart(2, '0');
  return `${m[1]}-${m[2]}-${m[3]}T${two(hour)}:${two(minute)}:${two(second)}${frac ? `.${frac}` : ''}${offset}`;
}

function daysIn(year: number, month: number): number {
  return new Date(Date.UTC(year, month, 0)).getUTCDate();
}

/**
 * The register's calendar date (`yyyymmdd`) of a date-time: a value without a zone is the
 * register's local time, so its date is the one written; a value with a zone (`Z`, `+02:00`) is
 * an instant, whose date is taken in the register's time zone. Undefined when it is no valid
 * date-time.
 */
export function localDay(text: string | undefined, zone: ZoneResolver): string | undefined {
  const iso = normaliseTimestamp(text, zone);
  const m = text === undefined ? null : STAMP.exec(text.trim());
  if (iso === undefined || !m) return undefined;
  if (m[8] === undefined) return `${m[1]}${m[2]}${m[3]}`;
  const instant = Date.parse(iso);
  const local = new Date(instant + zone.offsetAt(instant) * 60_000);
  const two = (n: number) => String(n).padStart(2, '0');
  return `${String(local.getUTCFullYear()).padStart(4, '0')}${two(local.getUTCMonth() + 1)}${two(local.getUTCDate())}`;
}
