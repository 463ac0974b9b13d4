import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { isTbError, TbCodes, type TbError } from '@tillbridge/shared';
import {
  DelimitedCodec,
  FixedCodec,
  loadProfile,
  recordCodec,
  RecordProfileSchema,
} from '../src/gateway/codecs/records/index.js';
import { formatDate, parseDate } from '../src/gateway/codecs/records/dates.js';
import { fitText, formatField, parseField } from '../src/gateway/codecs/records/fields.js';
import { tempDirForEachTest } from '../../test/support/temp-dir.js';

const ACME = new URL('../../installers/profiles/acme-ecr-400-delimited.json', import.meta.url).pathname;
const CONTOSO = new URL('../../installers/profiles/contoso-fixed-80.json', import.meta.url).pathname;
const acmeJson = () => JSON.parse(readFileSync(ACME, 'utf8')) as Record<string, unknown>;

type Obj = Record<string, unknown>;
/** The object or array at a dotted path (numbers index arrays). */
function at(root: unknown, path: string): Obj {
  let o = root as Obj;
  for (const k of path.split('.')) o = o[k] as Obj;
  return o;
}
/** Sets (or with `undefined`, deletes) the value at a dotted path. */
function set(root: unknown, path: string, value: unknown): void {
  const keys = path.split('.');
  const parent = keys.length === 1 ? (root as Obj) : at(root, keys.slice(0, -1).join('.'));
  const key = keys[keys.length - 1]!;
  if (value === undefined) Reflect.deleteProperty(parent, key);
  else parent[key] = value;
}

/** The profile's problems are exactly these, in any order. */
function expectProblems(raw: unknown, expected: string[]): void {
  expect(problems(raw).sort()).toEqual([...expected].sort());
}

function problems(raw: unknown): string[] {
  try {
    loadProfile(raw as object);
  } catch (err) {
    expect(isTbError(err, TbCodes.CONFIG)).toBe(true);
    return ((err as TbError).details?.problems as string[] | undefined) ?? [];
  }
  return [];
}

/** The smallest valid fixed profile: a status record and the two replies every profile needs. */
const tinyFixed = () => ({
  name: 'tiny',
  format: 'fixed',
  request: {
    recordSeparator: '\n',
    messages: { Q: { type: 'status', fields: { id: { columns: [2, 4] }, state: { columns: [6, 5] } } } },
  },
  reply: {
    records: {
      ack: { code: 'A', fields: [{ columns: [2, 4], from: 'id' }] },
      error: { code: 'E', fields: [{ columns: [2, 4], from: 'id' }] },
    },
  },
});

describe('loadProfile', () => {
  it('loads both shipped profiles, fills defaults and freezes them', () => {
    const a = loadProfile(ACME);
    expect(a).toMatchObject({
      name: 'acme-ecr-400',
      format: 'delimited',
      timeZone: 'Europe/Berlin',
      request: { encoding: 'latin1', fieldSeparator: '|', typeField: 1 },
    });
    expect(Object.isFrozen(a.request.messages)).toBe(true);
    const c = loadProfile(CONTOSO);
    expect(c).toMatchObject({ format: 'fixed', request: { encoding: 'ascii', recordLength: 80, typeColumns: [1, 2] } });
    const t = loadProfile(tinyFixed());
    expect(t).toMatchObject({
      timeZone: 'UTC',
      currencyDecimals: 2,
      request: { encoding: 'latin1', typeColumns: [1, 1] },
    });
    expect(t.format === 'fixed' && t.request.messages.Q!.fields.state).toEqual({
      columns: [6, 5],
      as: 'text',
      trim: 'both',
    });
  });

  it('reports every problem as "path: expected …", shape and meaning alike', () => {
    const p = acmeJson();
    set(p, 'request.messages.S.fields.reciept', at(p, 'request.messages.S.fields.receipt'));
    set(p, 'request.messages.S.fields.receipt', undefined);
    set(p, 'request.messages.S.groups.0.fields.qty.decimals', 4);
    set(p, 'reply.records.ack.fields.0.from', 'seq');
    /** Values of the wrong shape, each with a value of the right shape for the same place. */
    const misshapen: [path: string, wrong: unknown, right: unknown][] = [
      ['request.messages.S.groups.1.into', 'payments', 'lines'],
      ['request.messages.X.type', 'void', 'return.cancel'],
      ['reply.records.error.fields.0.field', 0, 2],
      ['timeZone', 'Mars/Olympus', 'Europe/Berlin'],
    ];
    for (const [path, wrong] of misshapen) set(p, path, wrong);
    expectProblems(p, [
      'request.messages.S.groups[1].into: expected one of "lines", "tenders"',
      'request.messages.X.type: expected one of "sale", "return.request", "return.complete", ' +
        '"return.cancel", "return.override", "status", "receipt.lookup", "day.close"',
      'reply.records.error.fields[0].field: expected a field position from 1 (the first field)',
      'timeZone: expected a time zone: "UTC", an offset such as "+01:00", or an IANA name such as "Europe/Berlin"',
    ]);
    // with the shape right, the meaning is checked: all of it at once
    for (const [path, , right] of misshapen) set(p, path, right);
    expectProblems(p, [
      'request.messages.S.fields.reciept: expected a canonical field of sale: id, receipt, at, currency',
      'request.messages.S.fields: expected a mapping for "receipt" (the canonical model requires it)',
      'request.messages.S.groups[0].fields.qty.decimals: expected at most 3 implied decimals for a quantity',
      'request.messages.S.groups[1].fields.kind: expected a canonical field of sale lines: line, sku, qty, unitPrice',
      'request.messages.S.groups[1].fields.amount: expected a canonical field of sale lines: ' +
        'line, sku, qty, unitPrice',
      'request.messages.S.groups[1].fields.pan: expected a canonical field of sale lines: line, sku, qty, unitPrice',
      'request.messages.S.groups[1].fields: expected a mapping for "line" (the canonical model requires it)',
      'request.messages.S.groups[1].fields: expected a mapping for "sku" (the canonical model requires it)',
      'request.messages.S.groups[1].fields: expected a mapping for "qty" (the canonical model requires it)',
      'request.messages.S.groups[1].fields: expected a mapping for "unitPrice" (the canonical model requires it)',
      'reply.records.ack.fields[0].from: expected one of id, or context.NAME',
    ]);
  });

  it('checks positions, sources and the replies a profile owes', () => {
    const p = acmeJson();
    set(p, 'request.messages.S.groups.0.start', 6); // overlaps the currency field
    set(p, 'request.messages.S.groups.1.start', 30); // only the first group has a start
    set(p, 'request.messages.R.fields.receipt', { field: 3, const: 'X' });
    set(p, 'request.messages.Q.fields.detail', { as: 'index' });
    set(p, 'request.messages.S.children', { S: { into: 'lines', fields: {} } });
    set(p, 'reply.records.receipt', undefined);
    set(p, 'request.messages.R.groups.0.fields.line', undefined);
    expectProblems(p, [
      'request.messages.S.groups[0].start: expected a start after every other field of the record',
      'request.messages.S.groups[1].start: expected no start: a later group follows the one before',
      'request.messages.R.fields.receipt: expected exactly one of a position ("field" or ' +
        '"columns"), "const", or "as": "index"',
      'request.messages.Q.fields.detail.as: expected "index" only for a field of a group or ' +
        'child record (its position in the array)',
      'request.messages.S.children.S: expected a child type code that is not also a message type code',
      'request.messages.S.children.S: expected a request recordSeparator (child records need one)',
      'request.messages.S.children.S.fields: expected a mapping for "line" (the canonical model requires it)',
      'request.messages.S.children.S.fields: expected a mapping for "sku" (the canonical model requires it)',
      'request.messages.S.children.S.fields: expected a mapping for "qty" (the canonical model requires it)',
      'request.messages.S.children.S.fields: expected a mapping for "unitPrice" (the canonical model requires it)',
      'reply.records.receipt: expected a reply record for receipt (a message maps to receipt.lookup)',
      'request.messages.R.groups[0].fields: expected a mapping for "line" or "sku" (the ' +
        'canonical model names a line by one of them)',
    ]);
    const f = tinyFixed();
    set(f, 'request.recordLength', 8);
    f.reply.records.ack.fields.push({ columns: [6, 2], from: 'context.nope' });
    expectProblems(f, [
      'request.messages.Q.fields: expected columns that end within the 8-byte record',
      'reply.records.ack.fields[1].from: expected a context name defined by a message: (none defined)',
    ]);
  });

  describe('from a file', () => {
    let dir = '';
    tempDirForEachTest('tb-profile-', (d) => (dir = d));

    it('reads a file, and says when it cannot', () => {
      const good = join(dir, 'tiny.json');
      writeFileSync(good, JSON.stringify(tinyFixed()));
      expect(loadProfile(good).name).toBe('tiny');
      const bad = join(dir, 'bad.json');
      writeFileSync(bad, '{"name": ');
      expect(() => loadProfile(bad)).toThrow(/is not valid JSON/);
      expect(() => loadProfile(join(dir, 'missing.json'))).toThrow(/cannot read profile/);
      expect(problems({ format: 'csv' })).toEqual(['format: expected a format: "delimited" or "fixed"']);
    });
  });

  it('each codec takes only its own format; recordCodec checks the config against the profile', () => {
    const fixed = loadProfile(CONTOSO);
    expect(() => new DelimitedCodec(fixed)).toThrow(
      expect.objectContaining({
        code: TbCodes.CONFIG,
        message: 'profile contoso-fixed-80 describes fixed records: use the fixed codec',
      }),
    );
    expect(() => new FixedCodec(loadProfile(ACME))).toThrow(
      expect.objectContaining({
        code: TbCodes.CONFIG,
        message: 'profile acme-ecr-400 describes delimited records: use the delimited codec',
      }),
    );
    expect(recordCodec({ type: 'fixed', profile: CONTOSO }).name).toBe('fixed:contoso-fixed-80');
    expect(recordCodec({ type: 'delimited', profile: ACME }).name).toBe('delimited:acme-ecr-400');
    expect(() => recordCodec({ type: 'delimited', profile: CONTOSO })).toThrow(
      /describes fixed records, but the codec type is "delimited"/,
    );
    expect(RecordProfileSchema.safeParse(JSON.parse(readFileSync(ACME, 'utf8'))).success).toBe(true);
  });
});

describe('field conversions', () => {
  const units = { currencyDecimals: 2, timeZone: 'UTC' };
  const text = { as: 'text' as const };

  it('money with implied decimals, to and from minor units', () => {
    expect(parseField('000001999', { as: 'money', decimals: 2 }, units)).toEqual({ ok: true, value: 1999 });
    expect(parseField('1999-', { as: 'money' }, units)).toEqual({ ok: true, value: -1999 });
    expect(parseField('19990', { as: 'money', decimals: 3 }, units)).toEqual({ ok: true, value: 1999 });
    expect(parseField('19995', { as: 'money', decimals: 3 }, units)).toEqual({
      ok: false,
      expected: 'digits with 3 implied decimals, a whole number of minor units',
    });
    expect(parseField('1999', { as: 'money', decimals: 0 }, { ...units, currencyDecimals: 0 })).toEqual({
      ok: true,
      value: 1999,
    });
    expect(parseField('19.99', { as: 'money' }, units)).toEqual({
      ok: false,
      expected: 'digits with 2 implied decimals',
    });
    expect(formatField(1999, { as: 'money', decimals: 3 }, units)).toEqual({ text: '19990', numeric: true });
    expect(formatField(1990, { as: 'money', decimals: 1 }, units)).toEqual({ text: '199', numeric: true });
    expect(formatField(1999, { as: 'money', decimals: 1 }, units)).toBeUndefined();
  });

  it('quantities with implied decimals', () => {
    expect(parseField('0042', { as: 'qty', decimals: 3 }, units)).toEqual({ ok: true, value: 0.042 });
    expect(parseField('12', { as: 'qty' }, units)).toEqual({ ok: true, value: 12 });
    expect(formatField(0.042, { as: 'qty', decimals: 3 }, units)).toEqual({ text: '42', numeric: true });
    expect(formatField(0.0425, { as: 'qty', decimals: 3 }, units)).toBeUndefined();
  });

  it('blank is no value; maps use only their own keys', () => {
    expect(parseField('   ', { as: 'money' }, units)).toEqual({ ok: true, value: undefined });
    expect(parseField(' 01 ', { ...text, map: { '01': 'cash' } }, units)).toEqual({ ok: true, value: 'cash' });
    expect(parseField('constructor', { ...text, map: { '01': 'cash' } }, units)).toEqual({
      ok: false,
      expected: 'one of "01"',
    });
    expect(parseField(' 01 ', { ...text, trim: 'none' }, units)).toEqual({ ok: true, value: ' 01 ' });
    expect(formatField('toString', { ...text, map: { a: 'b' }, mapDefault: '?' }, units)).toEqual({
      text: '?',
      numeric: false,
    });
  });

  it('fitting: numbers keep every digit, text is cut', () => {
    expect(fitText('-1999', { width: 8, numeric: true })).toBe('-0001999');
    expect(fitText('-1999', { width: 8, numeric: true, pad: ' ' })).toBe('   -1999');
    expect(fitText('123456', { width: 5, numeric: true })).toBeUndefined();
    expect(fitText('abcdef', { width: 4, numeric: false })).toBe('abcd');
    expect(fitText('ab', { width: 4, numeric: false, align: 'right' })).toBe('  ab');
  });
});

describe('dates', () => {
  it('reads the usual register formats as wall-clock time in the profile zone', () => {
    expect(parseDate('20261127', 'YYYYMMDD', 'UTC')).toBe('2026-11-27T00:00:00Z');
    expect(parseDate('271126', 'DDMMYY', 'Europe/Berlin')).toBe('2026-11-27T00:00:00+01:00');
    expect(parseDate('20260704093000', 'YYYYMMDDhhmmss', 'Europe/Berlin')).toBe('2026-07-04T09:30:00+02:00');
    expect(parseDate('27.11.2026 10:15', 'DD.MM.YYYY hh:mm', '+05:30')).toBe('2026-11-27T10:15:00+05:30');
    expect(parseDate('202611271015', 'YYYYMMDDhhmm', 'America/New_York')).toBe('2026-11-27T10:15:00-05:00');
  });

  it('refuses what is not a date in the format', () => {
    for (const [t, f] of [
      ['20260230', 'YYYYMMDD'],
      ['20261301', 'YYYYMMDD'],
      ['2026112', 'YYYYMMDD'],
      ['2026-1127', 'YYYYMMDD'],
      ['271126 2400', 'DDMMYY hhmm'],
      ['27/11/26', 'DD.MM.YY'],
      ['+0261127', 'YYYYMMDD'],
    ] as const) {
      expect(parseDate(t, f, 'UTC'), `${t} as ${f}`).toBeUndefined();
    }
  });

  it('writes an instant in a format and zone', () => {
    expect(formatDate('2026-11-27T09:15:00Z', 'DDMMYYhhmm', 'Europe/Berlin')).toBe('2711261015');
    expect(formatDate('2026-07-04T07:30:00Z', 'YYYYMMDDhhmmss', 'Europe/Berlin')).toBe('20260704093000');
    expect(formatDate('not a date', 'YYYYMMDD', 'UTC')).toBeUndefined();
  });
});
