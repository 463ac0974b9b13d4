import { describe, expect, it } from 'vitest';
import {
  containsTrackData,
  findCardNumbers,
  fullPanDigits,
  protectTenderPan,
  isGtin,
  isMaskedPan,
  luhnValid,
  maskCardNumbersIn,
  maskPan,
  panHmac,
  safePan,
  TbCodes,
  TbError,
} from '../src/index.js';

describe('card data', () => {
  it.each([
    ['4111111111111111', true],
    ['4111111111111112', false],
    ['378282246310005', true],
    ['12a4', false],
  ])('checks Luhn: %s is %s', (digits, valid) => {
    expect(luhnValid(digits)).toBe(valid);
  });

  it('masks to first 6 / last 4 whatever the length and separators', () => {
    expect(maskPan('4111 1111 1111 1111')).toBe('411111******1111');
    expect(maskPan('378282246310005')).toBe('378282*****0005');
    expect(maskPan('6011-0009-9013-9424-123')).toBe('601100*********4123');
    expect(() => maskPan('12345')).toThrow(TbError);
  });

  it('keeps masked PANs, masks full ones, refuses anything else without echoing it', () => {
    expect(safePan('4111111111111111')).toBe('411111******1111');
    expect(safePan('411111XXXXXX1111')).toBe('411111******1111');
    expect(safePan('************1111')).toBe('************1111');
    expect(isMaskedPan('411111******1111')).toBe(true);
    try {
      safePan('4111-abc');
      expect.unreachable();
    } catch (err) {
      expect((err as TbError).code).toBe(TbCodes.CARD_DATA);
      expect((err as Error).message).not.toContain('4111-abc');
    }
  });

  it('recognises track 1 and track 2 data', () => {
    expect(containsTrackData('%B4111111111111111^DOE/JOHN^2512101000000000?')).toBe(true);
    expect(containsTrackData(';4111111111111111=25121010000000000?')).toBe(true);
    expect(containsTrackData('receipt 4111 for DOE')).toBe(false);
  });

  it('finds Luhn-valid card numbers in text and ignores other digit runs', () => {
    const text = 'x 4111111111111111 y 5500-0000-0000-0004 z 1795766400000 id 4111111111111112';
    expect(findCardNumbers(text)).toEqual(['4111111111111111', '5500000000000004']);
    expect(findCardNumbers('411111******1111')).toEqual([]);
    // digits inside a longer token are not a card number written down
    expect(findCardNumbers('id 54827709-0687-70ab-9c1e-112233445566 hash f54827709068770e')).toEqual([]);
    expect(findCardNumbers('54827709068770')).toEqual(['54827709068770']);
    expect(findCardNumbers('"pan":"4111111111111111"')).toEqual(['4111111111111111']);
  });

  it('tells barcodes (GTIN check digit) from card numbers, and masks card numbers inside text', () => {
    expect(isGtin('4006381333931')).toBe(true);
    expect(isGtin('036000291452')).toBe(true);
    expect(isGtin('4111111111111111')).toBe(false);
    expect(isGtin('4006381333932')).toBe(false);
    expect(maskCardNumbersIn('paid with 4111-1111-1111-1111, ref 12345')).toBe('paid with 411111******1111, ref 12345');
  });

  it('hashes PANs with a key, the same for every format', () => {
    const a = panHmac('k', '4111 1111 1111 1111');
    expect(a).toBe(panHmac('k', '4111111111111111'));
    expect(a).not.toBe(panHmac('other', '4111111111111111'));
    expect(a).not.toContain('4111');
  });

  describe("a tender's card number as kept (gateway and sales import)", () => {
    const key = Buffer.from('k'.repeat(32));
    const pans = [
      '4111111111111111',
      '4111 1111 1111 1111',
      '4111-1111-1111-1111',
      '378282246310005',
      '6011000990139424123',
    ];

    it('never keeps a full PAN, in any spelling, with or without a key', () => {
      for (const pan of pans) {
        const digits = fullPanDigits(pan)!;
        for (const kept of [protectTenderPan(pan, key), protectTenderPan(pan, undefined)]) {
          expect(JSON.stringify(kept)).not.toContain(digits);
          expect(JSON.stringify(kept)).not.toContain(pan);
          expect(kept.pan).toBe(maskPan(pan));
        }
      }
    });

    it('keeps the keyed hash of a full PAN when there is a key, the same however it was spelt', () => {
      expect(protectTenderPan('4111 1111 1111 1111', key)).toEqual({
        pan: '411111******1111',
        panHash: panHmac(key, '4111111111111111'),
      });
      expect(protectTenderPan('4111-1111-1111-1111', key).panHash).toBe(
        protectTenderPan('4111111111111111', key).panHash,
      );
      expect(protectTenderPan('4111111111111111', undefined)).toEqual({ pan: '411111******1111' });
    });

    it('keeps a masked PAN without a hash, and refuses anything else', () => {
      expect(protectTenderPan('411111XXXXXX1111', key)).toEqual({ pan: '411111******1111' });
      expect(() => protectTenderPan('4111-abc', key)).toThrow(TbError);
      expect(fullPanDigits('411111******1111')).toBeUndefined();
      expect(fullPanDigits('12345')).toBeUndefined();
    });
  });
});
