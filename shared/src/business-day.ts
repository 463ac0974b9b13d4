/**
 * Business days: the calendar date, in the store's time zone, on which something happened. Feed
 * entries carry it, registers' day-close totals are per register and business day, and the
 * agent's cut-off for registers that never close their day is a wall-clock time in that zone.
 * A store's zone is an IANA name ("Europe/Berlin") or "UTC" (sync setting `timeZone`).
 */

const DAY = /^(\d{4})-(\d{2})-(\d{2})$/;
const CUTOFF = /^([01]\d|2[0-3]):([0-5]\d)$/;

export function isStoreTimeZone(zone: string): boolean {
  if (zone === 'UTC') return true;
  // IANA names only (no offsets: they ignore summer time)
  if (!/^[A-Za-z_]+(\/[A-Za-z0-9_+-]+)*$/.test(zone)) return false;
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}

/** "YYYY-MM-DD" that is a real date. */
export function isBusinessDay(day: string): boolean {
  const m = DAY.exec(day);
  if (!m) return false;
  const d = new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3])));
  return d.getUTCFullYear() === Number(m[1]) && d.getUTCMonth() === Number(m[2]) - 1 && d.getUTCDate() === Number(m[3]);
}

/** "HH:MM", 24-hour. */
export function isCutoff(text: string): boolean {
  return CUTOFF.test(text);
}

const formatters = new Map<string, Intl.DateTimeFormat>();

/** The wall clock in `zone` (an IANA name) at the instant `utcMs`. */
export function wallParts(
  zone: string,
  utcMs: number,
): { year: number; month: number; day: number; hour: number; minute: number; second: number } {
  let f = formatters.get(zone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone: zone,
      hourCycle: 'h23',
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
    });
    formatters.set(zone, f);
  }
  const wall = { year: 0, month: 0, day: 0, hour: 0, minute: 0, second: 0 };
  for (const p of f.formatToParts(new Date(utcMs)))
    if (p.type in wall) wall[p.type as keyof typeof wall] = Number(p.value);
  return wall;
}

const HOUR_MS = 3_600_000;

/**
 * Per zone and UTC hour, the offset read at both ends of the hour and found the same: the codecs ask for the offset of
 * every local time a register sends, and most fall in an hour already read. (A zone changes its offset at most once
 * in any hour, so the same offset at its first and last second holds all through it.)
 */
const hourOffsets = new Map<string, number>();

function offsetFromWallClock(zone: string, utcMs: number): number {
  const p = wallParts(zone, utcMs);
  const wall = Date.UTC(p.year, p.month - 1, p.day, p.hour, p.minute, p.second);
  return Math.round((wall - Math.floor(utcMs / 1000) * 1000) / 60_000);
}

/**
 * The offset from UTC, in minutes east, in force in `zone` (an IANA name) at the instant `utcMs`
 * (whole seconds: the wall clock shows no milliseconds).
 */
export function zoneOffsetAt(zone: string, utcMs: number): number {
  const hour = Math.floor(utcMs / HOUR_MS) * HOUR_MS;
  const key = `${zone} ${String(hour)}`;
  const known = hourOffsets.get(key);
  if (known !== undefined) return known;
  const offset = offsetFromWallClock(zone, utcMs);
  if (offsetFromWallClock(zone, hour) === offset && offsetFromWallClock(zone, hour + HOUR_MS - 1000) === offset) {
    if (hourOffsets.size >= 1000) hourOffsets.clear();
    hourOffsets.set(key, offset);
  }
  return offset;
}

const two = (n: number) => String(n).padStart(2, '0');

/** Per zone, the last day looked up and the instants it spans [start, end): most lookups fall in it. */
const lastDay = new Map<string, { day: string; start: number; end: number }>();

function dayOfParts(zone: string, ms: number): string {
  const p = wallParts(zone, ms);
  return `${p.year}-${two(p.month)}-${two(p.day)}`;
}

/** The business day (YYYY-MM-DD) of the instant `at` (ISO 8601 text or epoch ms) in `zone`. */
export function businessDayOf(at: string | number, zone: string): string {
  const ms = typeof at === 'number' ? at : Date.parse(at);
  if (!Number.isFinite(ms)) throw new RangeError(`not a time: ${String(at)}`);
  if (zone === 'UTC') return new Date(ms).toISOString().slice(0, 10);
  const known = lastDay.get(zone);
  if (known && ms >= known.start && ms < known.end) return known.day;
  const day = dayOfParts(zone, ms);
  // the day's span, kept only when checked against the zone's own clock (a day without a midnight, in a zone that skips
  // it, is not kept)
  const start = wallTimeToInstant(day, '00:00', zone);
  const end = wallTimeToInstant(nextBusinessDay(day), '00:00', zone);
  if (
    start <= ms &&
    ms < end &&
    dayOfParts(zone, start) === day &&
    dayOfParts(zone, end - 1) === day &&
    dayOfParts(zone, end) !== day
  ) {
    if (lastDay.size > 1000) lastDay.clear();
    lastDay.set(zone, { day, start, end });
  }
  return day;
}

/** The day after `day` (YYYY-MM-DD). */
export function nextBusinessDay(day: string): string {
  const m = DAY.exec(day);
  if (!m) throw new RangeError(`not a business day: ${day}`);
  const d = new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]) + 1));
  return d.toISOString().slice(0, 10);
}

/** The instant (epoch ms) at which the wall clock in `zone` shows `time` ("HH:MM") on `day`. */
export function wallTimeToInstant(day: string, time: string, zone: string): number {
  const d = DAY.exec(day);
  const t = CUTOFF.exec(time);
  if (!d || !t) throw new RangeError(`not a day and time: ${day} ${time}`);
  const wall = Date.UTC(Number(d[1]), Number(d[2]) - 1, Number(d[3]), Number(t[1]), Number(t[2]));
  // the zone's offset at the guess, then again at the corrected instant (summer-time changes)
  let utc = wall;
  for (let i = 0; i < 2; i++) {
    const p = wallParts(zone, utc);
    const shown = Date.UTC(p.year, p.month - 1, p.day, p.hour, p.minute, p.second);
    utc = utc + (wall - shown);
  }
  return utc;
}

/**
 * When a business day is over for reconciliation without a register's day close: at `cutoff`
 * ("HH:MM") on the following day, in the store's zone (a cut-off of "03:00" leaves the night's
 * late sales and the register's own close three hours to arrive).
 */
export function dayCutoffInstant(day: string, cutoff: string, zone: string): number {
  return wallTimeToInstant(nextBusinessDay(day), cutoff, zone);
}
