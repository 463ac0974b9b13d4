import { createHmac } from 'node:crypto';
import { TbCodes, TbError } from './errors.js';
import { cardNumberSpans } from './card-scan.js';

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
  const expected = 'the card number is neither a 13-19 digit PAN nor a masked PAN (first 6 / last 4)';
  throw new TbError(TbCodes.CARD_DATA, expected);
}

/** Keyed hash of a PAN for matching a refund to the original card (PCI DSS 3.5.1.1). */
export function panHmac(key: Buffer | string, pan: string): string {
  const digits = pan.replace(/[\s-]/g, '');
  return createHmac('sha256', key).update(digits).digest('base64url');
}

/** The digits of a full card number (13-19 digits, spaces and dashes allowed); undefined when `value` is not one. */
export function fullPanDigits(value: string): string | undefined {
  const digits = value.replace(/[\s-]/g, '');
  return /^\d{13,19}$/.test(digits) ? digits : undefined;
}

/** A tender's card number as it may be kept: masked, and the keyed hash of the full number when there is one. */
export interface ProtectedPan {
  pan: string;
  panHash?: string;
}

/**
 * What the gateway and the sales import keep of a tender's card number: `pan` masked (`safePan`),
 * and `panHash`, the keyed hash, when `pan` was a full card number and a key is given. Throws
 * TB_CARD_DATA (never echoing the value) for anything but a full or masked card number.
 */
export function protectTenderPan(pan: string, key: Buffer | string | undefined): ProtectedPan {
  const masked = safePan(pan);
  const digits = fullPanDigits(pan);
  return digits !== undefined && key !== undefined ? { pan: masked, panHash: panHmac(key, digits) } : { pan: masked };
}

const TRACK1 = /%?B\d{12,19}\^[^^]{2,26}\^\d{4}/;
const TRACK2 = /;?\d{12,19}=\d{4}\d*\??/;

/** True when `text` holds something shaped like magnetic-stripe track 1 or track 2 data. */
export function containsTrackData(text: string): boolean {
  return TRACK1.test(text) || TRACK2.test(text);
}

/**
 * Every card number written in `text` (see `cardNumberSpans`, mode `written`): whole groups of
 * digits, grouped by single spaces or dashes, that are not part of a longer word. Used for
 * identifiers (refused) and by the card-data scans.
 */
export function findCardNumbers(text: string): string[] {
  return cardNumberSpans(text, 'written').map((s) => s.digits);
}

/** A GTIN (EAN-8, UPC-A, EAN-13, GTIN-14) with a valid check digit: a barcode, not a card number. */
export function isGtin(digits: string): boolean {
  if (!/^(\d{8}|\d{12,14})$/.test(digits)) return false;
  let sum = 0;
  for (let i = digits.length - 2, w = 3; i >= 0; i--, w = w === 3 ? 1 : 3) sum += (digits.charCodeAt(i) - 48) * w;
  return (10 - (sum % 10)) % 10 === digits.charCodeAt(digits.length - 1) - 48;
}

/**
 * `text` with every card number in it masked to first 6 / last 4 (mode `anywhere`): every Luhn-valid
 * window of 13–19 digits in a card issuer's range (card-scan.ts) inside any run of digits, spaces and
 * dashes, wherever it stands. Only the digits of those windows are touched; the numbers around them are kept.
 */
export function maskCardNumbersIn(text: string): string {
  const spans = cardNumberSpans(text, 'anywhere');
  if (spans.length === 0) return text;
  let out = '';
  let at = 0;
  for (const s of spans) {
    out += text.slice(at, s.start) + s.digits.slice(0, 6) + '*'.repeat(s.digits.length - 10) + s.digits.slice(-4);
    at = s.end;
  }
  return out + text.slice(at);
}

/** Field names that carry sensitive authentication data and are refused wherever they appear. */
export const FORBIDDEN_CARD_FIELDS = [
  'track1',
  'track2',
  'track3',
  'trackData',
  'cvv',
  'cvv2',
  'cvc',
  'cvc2',
  'cid',
  'pinBlock',
  'pin',
] as const;

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
