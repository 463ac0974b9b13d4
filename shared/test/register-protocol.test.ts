import { describe, expect, it } from 'vitest';
import { Receipt, Refund, Sku, Tender } from '../src/index.js';

const card = { kind: 'card', amount: 1250, pan: '************1111' };

describe('Tender and Refund', () => {
  it.each([
    ['a card payment', card, true, true],
    ['a cash payment without a PAN', { kind: 'cash', amount: 500 }, true, true],
    ['a negative amount', { ...card, amount: -100 }, true, false],
    ['a PAN hash', { ...card, panHash: 'h'.repeat(64) }, true, false],
    ['a PAN hash over 64 characters', { ...card, panHash: 'h'.repeat(65) }, false, false],
    ['a kind over 32 characters', { ...card, kind: 'k'.repeat(33) }, false, false],
    ['a PAN over 32 characters', { ...card, pan: '1'.repeat(33) }, false, false],
    ['a fractional amount', { ...card, amount: 1.5 }, false, false],
    ['an unknown field', { ...card, tip: 100 }, false, false],
  ])('%s: a valid tender %s, a valid refund %s', (_what, payment, tender, refund) => {
    expect(Tender.safeParse(payment).success).toBe(tender);
    expect(Refund.safeParse(payment).success).toBe(refund);
  });

  it('names the rule a negative refund breaks', () => {
    const r = Refund.safeParse({ ...card, amount: -1 });
    expect(r.success ? [] : r.error.issues.map((i) => i.message)).toEqual(['zero or more']);
  });
});

describe('identifiers', () => {
  it.each([
    ['plain text', 'TEE-BLUE-M', true],
    ['a character outside the BMP (a surrogate pair)', 'TEE-\u{1f455}', true],
    ['a lone high surrogate', 'TEE-\ud83d', false],
    ['a lone low surrogate', '\udc55-TEE', false],
    ['two surrogates in the wrong order', 'TEE-\udc55\ud83d', false],
    ['empty', '', false],
    ['65 characters', 'x'.repeat(65), false],
  ])('%s: a valid SKU and receipt: %s', (_what, text, valid) => {
    expect(Sku.safeParse(text).success).toBe(valid);
    expect(Receipt.safeParse(text).success).toBe(valid);
  });
});
