import fc from 'fast-check';
import { describe, expect, it, vi } from 'vitest';
import {
  businessDayOf,
  dayCutoffInstant,
  isBusinessDay,
  isCutoff,
  isStoreTimeZone,
  nextBusinessDay,
  wallTimeToInstant,
  zoneOffsetAt,
} from '../src/business-day.js';

/** The date in `zone` as Intl gives it, with no cache: what businessDayOf must always agree with. */
const reference = (ms: number, zone: string): string =>
  new Intl.DateTimeFormat('en-CA', { timeZone: zone, year: 'numeric', month: '2-digit', day: '2-digit' }).format(
    new Date(ms),
  );

const offsetFormatters = new Map<string, Intl.DateTimeFormat>();

/**
 * The offset in force in `zone` at `ms` (minutes east), as Intl names it ("GMT+05:45"), read each time with no cache:
 * another reading than the wall clock the code compares with UTC.
 */
function referenceOffset(ms: number, zone: string): number {
  let f = offsetFormatters.get(zone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', { timeZone: zone, timeZoneName: 'longOffset' });
    offsetFormatters.set(zone, f);
  }
  const name = f.formatToParts(new Date(ms)).find((p) => p.type === 'timeZoneName')?.value ?? '';
  const m = /^GMT(?:([+-])(\d\d):(\d\d)(?::(\d\d))?)?$/.exec(name);
  if (!m) throw new Error(`unexpected offset name ${name}`);
  if (m[1] === undefined) return 0;
  const seconds = Number(m[2]) * 3600 + Number(m[3]) * 60 + Number(m[4] ?? 0);
  return Math.round(((m[1] === '-' ? -1 : 1) * seconds) / 60);
}

// summer time at midnight (Havana, Santiago), half- and three-quarter-hour offsets, a 30-minute summer
// time (Lord Howe), a day that never happened (Apia skipped 30 December 2011), the date line
const ZONES = [
  'UTC',
  'Europe/Berlin',
  'America/New_York',
  'America/Havana',
  'America/Santiago',
  'Asia/Kathmandu',
  'Australia/Lord_Howe',
  'Pacific/Apia',
  'Pacific/Kiritimati',
  'Asia/Kolkata',
];

/**
 * For any lookups (instants within `between`, two UTC days; in any of ZONES; in any order): `check` at each instant
 * moved by each of `around` milliseconds.
 */
function forAnyLookups(between: [string, string], around: number[], check: (ms: number, zone: string) => void): void {
  const [min, max] = between.map((day) => Date.parse(`${day}T00:00:00Z`));
  fc.assert(
    fc.property(
      fc.array(fc.tuple(fc.integer({ min, max }), fc.constantFrom(...ZONES)), { minLength: 1, maxLength: 40 }),
      (lookups) => {
        for (const [ms, zone] of lookups) for (const d of around) check(ms + d, zone);
      },
    ),
    { numRuns: 300 },
  );
}

describe('business days in a store’s time zone', () => {
  it(
    'agree with the zone’s own calendar for any instant, ' +
      'in any order of lookups (the per-zone cache never answers wrong)',
    () => {
      // each instant, and those around it, which the cached span must tell apart
      forAnyLookups(['2011-01-01', '2031-01-01'], [0, -1, 1, 3_600_000, -3_600_000], (ms, zone) =>
        expect(businessDayOf(ms, zone), `${new Date(ms).toISOString()} in ${zone}`).toBe(reference(ms, zone)),
      );
    },
  );

  it('a sale at 23:30 in Berlin is that evening’s day; 03:30 UTC is the day before in New York', () => {
    expect(businessDayOf('2026-11-27T22:30:00Z', 'Europe/Berlin')).toBe('2026-11-27');
    expect(businessDayOf('2026-11-27T23:30:00Z', 'Europe/Berlin')).toBe('2026-11-28');
    expect(businessDayOf('2026-11-30T03:30:00Z', 'America/New_York')).toBe('2026-11-29');
    expect(() => businessDayOf('yesterday', 'UTC')).toThrow(RangeError);
  });

  it('the cut-off is a wall-clock time the next day, across a change of summer time', () => {
    // Berlin leaves summer time on 25 October 2026 at 03:00 local (01:00 UTC): 03:00 that day is 02:00 UTC
    expect(new Date(dayCutoffInstant('2026-10-24', '03:00', 'Europe/Berlin')).toISOString()).toBe(
      '2026-10-25T02:00:00.000Z',
    );
    expect(new Date(dayCutoffInstant('2026-10-25', '03:00', 'Europe/Berlin')).toISOString()).toBe(
      '2026-10-26T02:00:00.000Z',
    );
    expect(new Date(wallTimeToInstant('2026-07-01', '00:00', 'America/New_York')).toISOString()).toBe(
      '2026-07-01T04:00:00.000Z',
    );
    expect(nextBusinessDay('2028-02-28')).toBe('2028-02-29');
  });

  it(
    'the offset in force agrees with the zone’s own clock for any instant, in any order of lookups ' +
      '(the per-hour cache never answers wrong)',
    () => {
      // each instant, and those around it the same hour's cached offset must tell apart
      forAnyLookups(['1950-01-01', '2040-01-01'], [0, -1, 1, -1000, 1000, 3_600_000, -3_600_000], (ms, zone) =>
        expect(zoneOffsetAt(zone, ms), `${new Date(ms).toISOString()} in ${zone}`).toBe(referenceOffset(ms, zone)),
      );
    },
  );

  it('the offset across each change of summer time, minute by minute, and again from the cache', () => {
    // Berlin 2026 (01:00 UTC both ways), Lord Howe 2026 (a 30-minute change, 15:00 UTC in April and October)
    const changes: [string, string][] = [
      ['Europe/Berlin', '2026-03-29T01:00:00Z'],
      ['Europe/Berlin', '2026-10-25T01:00:00Z'],
      ['Australia/Lord_Howe', '2026-04-04T15:00:00Z'],
      ['Australia/Lord_Howe', '2026-10-03T15:30:00Z'],
    ];
    for (const [zone, at] of changes) {
      const t = Date.parse(at);
      expect(referenceOffset(t - 3_600_000, zone)).not.toBe(referenceOffset(t + 3_600_000, zone));
      for (let pass = 0; pass < 2; pass++)
        for (let m = -90; m <= 90; m++) {
          const ms = t + m * 60_000 - (m < 0 ? 1 : 0);
          expect(zoneOffsetAt(zone, ms), `${new Date(ms).toISOString()} in ${zone}`).toBe(referenceOffset(ms, zone));
        }
    }
  });

  it('a second look-up in the same hour reads no wall clock', () => {
    const t = Date.parse('2033-06-15T10:20:00Z'); // an hour no other test asks about
    zoneOffsetAt('Asia/Kathmandu', t);
    const read = vi.spyOn(Intl.DateTimeFormat.prototype, 'formatToParts');
    try {
      expect(zoneOffsetAt('Asia/Kathmandu', t + 30 * 60_000)).toBe(345);
      expect(read).not.toHaveBeenCalled();
      zoneOffsetAt('Asia/Kathmandu', t + 3_600_000);
      expect(read).toHaveBeenCalled();
    } finally {
      read.mockRestore();
    }
  });

  it('the offset in force at an instant: summer time, half hours, west of UTC; an unknown zone throws', () => {
    expect(zoneOffsetAt('Europe/Berlin', Date.parse('2026-01-15T12:00:00Z'))).toBe(60);
    expect(zoneOffsetAt('Europe/Berlin', Date.parse('2026-07-15T12:00:00Z'))).toBe(120);
    // the instant Berlin leaves summer time (01:00 UTC), and the millisecond before it
    expect(zoneOffsetAt('Europe/Berlin', Date.parse('2026-10-25T00:59:59.999Z'))).toBe(120);
    expect(zoneOffsetAt('Europe/Berlin', Date.parse('2026-10-25T01:00:00Z'))).toBe(60);
    expect(zoneOffsetAt('Asia/Kolkata', 0)).toBe(330);
    expect(zoneOffsetAt('America/New_York', Date.parse('2026-01-15T12:00:00Z'))).toBe(-300);
    expect(() => zoneOffsetAt('Mars/Olympus', 0)).toThrow(RangeError);
  });

  it('checks days, cut-offs and zones', () => {
    expect([isBusinessDay('2026-02-28'), isBusinessDay('2026-02-30'), isBusinessDay('26-02-01')]).toEqual([
      true,
      false,
      false,
    ]);
    expect([isCutoff('03:00'), isCutoff('24:00'), isCutoff('3:00')]).toEqual([true, false, false]);
    expect([
      isStoreTimeZone('Europe/Berlin'),
      isStoreTimeZone('UTC'),
      isStoreTimeZone('+01:00'),
      isStoreTimeZone('Mars/Olympus'),
    ]).toEqual([true, true, false, false]);
  });
});
