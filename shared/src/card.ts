import { createHmac } from 'node:crypto';
import { TbCodes, TbError } from './errors.js';

/**
 * Card data rules (PCI DSS v4.0.1 3.3.1, 3.4.1, 3.5.1): a full PAN is masked to at most the
 * first 6 and last 4 digits at the gateway, track data and CVV are refused, and only a keyed
 * hash may be kept for matching a refund to the original card.
 */

export function luhnValid(digits: string): boolean {
  if (!/^\d+$/.test(digits)) return false;
  let sum = 0;
  let double = false;
  for (let i = digits.length - 1; i >= 0; i--) {
    let d = digits.charCodeAt(i) - 48;
    if (double) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
    double = !double;
  }
  return sum % 10 === 0;
}

const MASKED = /^(\d{0,6})[*xX#•]{3,13}(\d{4})$/;

export function isMaskedPan(value: string): boolean {
  return MASKED.test(value.replace(/[\s-]/g, ''));
}

/** First 6 / last 4, the rest as `*`. Input must be 13–19 digits (separators allowed). */
export function maskPan(pan: string): string {
  const digits = pan.replace(/[\s-]/g, '');
  if (!/^\d{13,19}$/.test(digits)) {
    throw new TbError(TbCodes.CARD_DATA, 'a card number must be 13 to 19 digits');
  }
  return digits.slice(0, 6) + '*'.repeat(digits.length - 10) + digits.slice(-4);
}

/**
 * What a register sent as a card number, made safe to keep: a full PAN becomes its masked
 * form; an already masked PAN is kept (normalised); anything else is refused with
 * TB_CARD_DATA and never echoed.
 */
export function safePan(value: string): string {
  const compact = value.replace(/[\s-]/g, '');
  if (/^\d{13,19}$/.test(compact)) return maskPan(compact);
  if (MASKED.test(compact)) return compact.replace(/[xX#•]/g, '*');
  throw new TbError(TbCodes.CARD_DATA, 'the card number is neither a 13-19 digit PAN nor a masked PAN (first 6 / last 4)');
}

/** Keyed hash of a PAN for matching a refund to the original card (PCI DSS 3.5.1.1). */
export function panHmac(key: Buffer | string, pan: string): string {
  const digits = pan.replace(/[\s-]/g, '');
  return createHmac('sha256', key).update(digits).digest('base64url');
}

const TRACK1 = /%?B\d{12,19}\^[^^]{2,26}\^\d{4}/;
const TRACK2 = /;?\d{12,19}=\d{4}\d*\??/;

/** True when `text` holds something shaped like magnetic-stripe track 1 or track 2 data. */
export function containsTrackData(text: string): boolean {
  return TRACK1.test(text) || TRACK2.test(text);
}

/**
 * Every Luhn-valid number of 13–19 digits in `text` that stands on its own (digits may be
 * grouped by single spaces or dashes, as card numbers are written). A run that is part of a
 * longer token — a hex digest, a UUID, a base64 string — is not a card number written down, and
 * neither is a digit run longer than 19. Used by the gateway and the card-data scans.
 */
export function findCardNumbers(text: string): string[] {
  const found: string[] = [];
  const re = /(?<![0-9A-Za-z])(?<!\d[ -])\d(?:[ -]?\d)*(?![0-9A-Za-z])(?![ -]\d)/g;
  for (const m of text.matchAll(re)) {
    const digits = m[0].replace(/[ -]/g, '');
    if (digits.length < 13 || digits.length > 19) continue;
    // issuer ranges 2-6 cover Mastercard, Amex, Diners, JCB, Visa, Discover, UnionPay
    if (luhnValid(digits) && /^[2-6]/.test(digits)) found.push(digits);
  }
  return found;
}

/** A GTIN (EAN-8, UPC-A, EAN-13, GTIN-14) with a valid check digit: a barcode, not a card number. */
export function isGtin(digits: string): boolean {
  if (!/^(\d{8}|\d{12,14})$/.test(digits)) return false;
  let sum = 0;
  for (let i = digits.length - 2, w = 3; i >= 0; i--, w = w === 3 ? 1 : 3) sum += (digits.charCodeAt(i) - 48) * w;
  return (10 - (sum % 10)) % 10 === digits.charCodeAt(digits.length - 1) - 48;
}

/** `text` with every Luhn-valid card number in it masked to first 6 / last 4. */
export function maskCardNumbersIn(text: string): string {
  return text.replace(/(?<![\d])\d(?:[ -]?\d){12,18}(?![\d])/g, (m) => {
    const digits = m.replace(/[ -]/g, '');
    return luhnValid(digits) && /^[2-6]/.test(digits) ? maskPan(digits) : m;
  });
}

/** Field names that carry sensitive authentication data and are refused wherever they appear. */
export const FORBIDDEN_CARD_FIELDS = ['track1', 'track2', 'track3', 'trackData', 'cvv', 'cvv2', 'cvc', 'cvc2', 'cid', 'pinBlock', 'pin'] as const;

/** Paths pino must redact, wherever a message object could be logged. */
export const REDACT_PATHS = [
  'pan',
  'card',
  '*.card',
  '*.pan',
  'tenders[*].pan',
  '*.tenders[*].pan',
  '*.*.tenders[*].pan',
  'apiKey',
  '*.apiKey',
  'token',
  '*.token',
  'accessToken',
  '*.accessToken',
  'headers.authorization',
  '*.headers.authorization',
  ...FORBIDDEN_CARD_FIELDS.map((f) => `*.${f}`),
];
