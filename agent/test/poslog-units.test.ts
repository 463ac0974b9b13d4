import { describe, expect, it } from 'vitest';
import {
  formatMinor,
  formatQuantity,
  parseDecimal,
  toMilli,
  toMinorUnits,
} from '../src/gateway/codecs/poslog/amounts.js';
import { PoslogCodec, PoslogCodecConfigSchema } from '../src/gateway/codecs/poslog/codec.js';
import { localDay, normaliseTimestamp, zoneResolver } from '../src/gateway/codecs/poslog/time.js';

describe('poslog amounts', () => {
  it.each([
    ['19.99', 2, 1999],
    ['704.47000', 2, 70447],
    ['-1.00', 2, -100],
    ['1.005', 2, 101],
    ['-1.005', 2, -101],
    ['1.0049999', 2, 100],
    ['0.0000001', 2, 0],
    ['+3', 2, 300],
    ['.5', 2, 50],
    ['7.', 2, 700],
    ['1999', 0, 1999],
    ['19.5', 0, 20],
    ['1.2345', 3, 1235],
    ['  12.30  ', 2, 1230],
    ['1.00000000000', 2, 100],
  ])('%s with %i minor digits → %i', (text, digits, minor) => {
    expect(toMinorUnits(text, digits)).toBe(minor);
  });

  it.each(['', '.', '-', '1,50', '1e3', '0x10', '1.23456789', '12 34', 'NaN', '1234567890123456'])(
    'refuses %j',
    (text) => {
      expect(toMinorUnits(text, 2)).toBeUndefined();
    },
  );

  it('keeps exact thousandths of quantities', () => {
    expect(toMilli('0.42')).toBe(420n);
    expect(toMilli('1.29500')).toBe(1295n);
    expect(toMilli('0.4215')).toBe(422n);
    expect(toMilli('-1.0000')).toBe(-1000n);
    expect(parseDecimal('0.1')! + parseDecimal('0.2')!).toBe(parseDecimal('0.3'));
  });

  it('formats minor units and quantities back without float artefacts', () => {
    expect(formatMinor(1999, 2)).toBe('19.99');
    expect(formatMinor(5, 2)).toBe('0.05');
    expect(formatMinor(-100, 2)).toBe('-1.00');
    expect(formatMinor(1999, 0)).toBe('1999');
    expect(formatMinor(1, 3)).toBe('0.001');
    expect(formatQuantity(0.42)).toBe('0.42');
    expect(formatQuantity(1)).toBe('1');
    expect(formatQuantity(10)).toBe('10');
    expect(formatQuantity(0)).toBe('0');
    expect(formatQuantity(0.1 + 0.2)).toBe('0.3');
  });
});

describe('poslog date-times', () => {
  const z = zoneResolver('Z')!;
  it.each([
    ['2017-10-01T02:01:31', '2017-10-01T02:01:31Z'],
    ['2017-12-05T21:52:33+01:00', '2017-12-05T21:52:33+01:00'],
    ['2017-12-05T21:52:33+0100', '2017-12-05T21:52:33+01:00'],
    ['2017-12-05T21:52:33-05', '2017-12-05T21:52:33-05:00'],
    ['2017-12-05T21:52:33+00:00', '2017-12-05T21:52:33Z'],
    ['2016-03-11T22:12:34.1470000+00:00', '2016-03-11T22:12:34.147Z'],
    ['2024-10-15T11:27:02.649', '2024-10-15T11:27:02.649Z'],
    ['2024-10-15T11:27:02.6', '2024-10-15T11:27:02.6Z'],
    ['2024-10-15T11:27:02.000', '2024-10-15T11:27:02Z'],
    ['2024-10-15 11:27', '2024-10-15T11:27:00Z'],
    ['2024-02-29', '2024-02-29T00:00:00Z'],
    ['2024-10-15T09:27:02.649z', '2024-10-15T09:27:02.649Z'],
  ])('%s → %s', (text, iso) => {
    expect(normaliseTimestamp(text, z)).toBe(iso);
  });

  it.each([
    '2023-02-29',
    '2024-13-01T00:00:00',
    '2024-10-15T24:00:00',
    '2024-10-15T10:60:00',
    '2024-10-15T10:00:00+15:00',
    '15.10.2024 10:00',
    '2024-10-15T10:00:00 CET',
    '',
  ])('refuses %j', (text) => {
    expect(normaliseTimestamp(text, z)).toBeUndefined();
  });

  it('gives zone-less times the offset in force in an IANA zone, summer time included', () => {
    const ny = zoneResolver('America/New_York')!;
    expect(normaliseTimestamp('2026-01-12T14:02:11', ny)).toBe('2026-01-12T14:02:11-05:00');
    expect(normaliseTimestamp('2026-07-12T14:02:11', ny)).toBe('2026-07-12T14:02:11-04:00');
    const sto = zoneResolver('Europe/Stockholm')!;
    expect(normaliseTimestamp('2026-03-29T01:59:59', sto)).toBe('2026-03-29T01:59:59+01:00');
    expect(normaliseTimestamp('2026-03-29T03:00:00', sto)).toBe('2026-03-29T03:00:00+02:00');
    expect(normaliseTimestamp('2026-12-31T23:59:59', zoneResolver('Asia/Kolkata')!)).toBe('2026-12-31T23:59:59+05:30');
  });

  it("gives a date-time's calendar day in the register's zone: as written without a zone, converted with one", () => {
    const ny = zoneResolver('America/New_York')!;
    expect(localDay('2026-03-14T23:59:30', ny)).toBe('20260314');
    expect(localDay('2026-03-14T23:59:30-04:00', ny)).toBe('20260314');
    expect(localDay('2026-03-15T03:59:30Z', ny)).toBe('20260314');
    expect(localDay('2026-03-15T03:59:30Z', zoneResolver('Z')!)).toBe('20260315');
    expect(localDay('2026-03-15T00:30:00+01:00', zoneResolver('-05:00')!)).toBe('20260314');
    expect(localDay('2026-12-31T19:00:00.5-05:00', zoneResolver('Asia/Kolkata')!)).toBe('20270101');
    expect(localDay('2026-03-29', zoneResolver('Europe/Stockholm')!)).toBe('20260329');
    for (const bad of ['2026-02-30T10:00:00', '', 'yesterday']) expect(localDay(bad, ny), bad).toBeUndefined();
  });

  it('knows which zones it can use', () => {
    for (const ok of ['Z', 'UTC', '+01:00', '-0330', '+14:00', 'Europe/Stockholm'])
      expect(zoneResolver(ok), ok).toBeDefined();
    for (const bad of ['', '+15:00', '01:00', 'Mars/Olympus_Mons', 'CET; rm -rf', '+1:00'])
      expect(zoneResolver(bad), bad).toBeUndefined();
  });
});

describe('PoslogCodecConfigSchema', () => {
  it("fills in the defaults; no timeZone means the host's zone, which the agent supplies", () => {
    expect(PoslogCodecConfigSchema.parse({ type: 'poslog' })).toEqual({
      type: 'poslog',
      minorUnitDigits: 2,
      receiptKey: 'sequence',
      maxTransactions: 200,
    });
    const zoneless = Buffer.from(
      '<POSLog><Transaction><RetailStoreID>1</RetailStoreID><WorkstationID>2</WorkstationID>' +
        '<SequenceNumber>3</SequenceNumber><EndDateTime>2026-07-01T23:30:00</EndDateTime>' +
        '<CurrencyCode>EUR</CurrencyCode><RetailTransaction><LineItem><Sale><ItemID>A</ItemID>' +
        '<RegularSalesUnitPrice>1</RegularSalesUnitPrice></Sale></LineItem></RetailTransaction>' +
        '</Transaction></POSLog>',
    );
    const at = (config: object, deps?: object) => {
      const r = new PoslogCodec(PoslogCodecConfigSchema.parse({ type: 'poslog', ...config }), deps).decode(zoneless);
      return r.kind === 'messages' ? (r.messages[0] as { at: string }).at : r.code;
    };
    expect(at({}, { hostZone: 'America/New_York' })).toBe('2026-07-01T23:30:00-04:00');
    expect(at({ timeZone: 'Asia/Tokyo' }, { hostZone: 'America/New_York' })).toBe('2026-07-01T23:30:00+09:00');
    expect(at({}, { hostZone: 'Etc/Unknown' })).toBe('2026-07-01T23:30:00Z');
    expect(at({})).toBe('2026-07-01T23:30:00Z');
  });

  it('refuses unknown keys and says what each bad key expects', () => {
    const r = PoslogCodecConfigSchema.safeParse({
      type: 'poslog',
      defaultCurrency: 'eur',
      minorUnitDigits: 7,
      timeZone: 'Mars/Base',
      receiptKey: 'guid',
      maxTransactions: 0,
      extra: 1,
    });
    expect(r.success).toBe(false);
    const text = JSON.stringify(r.error?.issues.map((i) => [i.path.join('.'), i.message]));
    expect(text).toContain('an ISO 4217 code such as \\"EUR\\"');
    expect(text).toContain('a whole number of decimals from 0 to 4');
    expect(text).toContain('an IANA zone such as \\"Europe/Stockholm\\"');
    expect(text).toContain('one of \\"sequence\\"');
    expect(text).toContain('a whole number from 1 to 1000');
    expect(text).toContain('extra');
  });
});
