import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { crockfordBase32 } from '../src/index.js';

const CROCKFORD = '0123456789abcdefghjkmnpqrstvwxyz';

/** The same encoding through one big number: 80 bits are exactly 16 characters. */
function viaBigInt(bytes: Buffer): string {
  let n = BigInt(`0x${bytes.toString('hex')}`);
  let out = '';
  for (let i = 0; i < (bytes.length * 8) / 5; i++) {
    out = CROCKFORD[Number(n & 31n)]! + out;
    n >>= 5n;
  }
  return out;
}

describe('Crockford base32', () => {
  it('encodes 5 bits a character, most significant first, the last group padded with zero bits', () => {
    expect(crockfordBase32(Buffer.from([0xff]))).toBe('zw');
    expect(crockfordBase32(Buffer.alloc(10))).toBe('0'.repeat(16));
    expect(crockfordBase32(Buffer.alloc(0))).toBe('');
    for (let i = 0; i < 50; i++) {
      const bytes = randomBytes(10);
      expect(crockfordBase32(bytes)).toBe(viaBigInt(bytes));
    }
    expect(crockfordBase32(randomBytes(16))).toMatch(/^[0-9a-hjkmnp-tv-z]{26}$/);
  });
});
