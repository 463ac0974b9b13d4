import { describe, expect, it } from 'vitest';
import { findForbiddenCardData, sweepCardNumbers } from '../src/index.js';

describe('findForbiddenCardData (track data, CVV, PIN: refused wherever they stand)', () => {
  it('finds a forbidden field or track data at any depth, and names the first in order', () => {
    expect(findForbiddenCardData({ type: 'sale', tenders: [{ kind: 'card', cvv: '123' }] })).toBe('tenders[0].cvv');
    expect(findForbiddenCardData({ a: { PIN: '1234' }, b: { cvv: '1' } })).toBe('a.PIN');
    expect(findForbiddenCardData({ note: '%B4111111111111111^DOE/J^2512101?' })).toBe('note');
    expect(findForbiddenCardData({ type: 'sale', lines: [{ sku: 'A', qty: 1 }] })).toBeUndefined();
    // ten levels down, and deeper than any recursion could go
    let ten: unknown = { cvv: '123' };
    for (let i = 0; i < 10; i++) ten = { x: ten };
    expect(findForbiddenCardData(ten)).toBe(`${'x.'.repeat(10)}cvv`);
    let deep: unknown = { track2: '4111111111111111=2512101' };
    for (let i = 0; i < 100_000; i++) deep = [deep];
    expect(findForbiddenCardData(deep)).toBe(`${'[0]'.repeat(100_000)}.track2`);
  });
});

describe('sweepCardNumbers (a card number where it does not belong)', () => {
  it('refuses one typed into a number field (a price, an amount, a count); ordinary numbers pass', () => {
    expect(sweepCardNumbers({ lines: [{ sku: 'A', qty: 1, unitPrice: 4111111111111111 }] })).toBe('lines[0].unitPrice');
    expect(sweepCardNumbers({ tenders: [{ kind: 'cash', amount: 378282246310005 }] })).toBe('tenders[0].amount');
    expect(sweepCardNumbers({ sales: { count: 2, amount: 123_456_789_012 } })).toBeUndefined(); // 12 digits
    expect(sweepCardNumbers({ total: 4111111111111112 })).toBeUndefined(); // fails the check digit
    expect(sweepCardNumbers({ total: 1999, qty: 0.5 })).toBeUndefined();
  });
});
