import { isMaskedPan, TbCodes, TbError } from '@tillbridge/shared';
import { toMinorUnits } from './amounts.js';
import { attr, child, descendants, enumValue, textAt, type XNode } from './xml.js';

/**
 * Tender line items → `{kind, amount, pan?}`. Amounts are taken as absolute values (NCR ACS
 * records a manufacturer coupon that pays 1.00 as `-1.00`). The card number is read from
 * CreditDebit/PrimaryAccountNumber or CreditDebit/AccountNumber, then from a vendor
 * MaskedCardNumber: a full or masked PAN is passed on as it is (the gateway masks it at once),
 * base64 is decoded when it yields one, an encrypted value is left out, and anything else is
 * passed on so that the gateway refuses it (TB_CARD_DATA). Card numbers never reach an error.
 */
export interface TenderOut {
  kind: string;
  amount: number;
  pan?: string;
}

export interface ReadTender {
  tender: TenderOut;
  /** TypeCode="Refund": money paid back to the customer. */
  refund: boolean;
}

const KINDS: Record<string, string> = {
  cash: 'cash',
  creditdebit: 'card',
  credit: 'card',
  debit: 'card',
  card: 'card',
  creditcard: 'card',
  debitcard: 'card',
  paymentcard: 'card',
  giftcard: 'giftcard',
  giftcertificate: 'giftcard',
  storedvalue: 'giftcard',
  coupon: 'coupon',
  manufacturercoupon: 'coupon',
  manufacturerscoupon: 'coupon',
  storecoupon: 'coupon',
  check: 'check',
  cheque: 'check',
  voucher: 'voucher',
  creditvoucher: 'voucher',
  loyalty: 'loyalty',
  loyaltyredemption: 'loyalty',
  points: 'loyalty',
};
/** Child elements that tell the kind when TenderType does not. */
const KIND_BY_CHILD: [string, string][] = [
  ['CreditDebit', 'card'],
  ['GiftCard', 'giftcard'],
  ['GiftCertificate', 'giftcard'],
  ['Coupon', 'coupon'],
  ['Check', 'check'],
  ['Voucher', 'voucher'],
];

/** The kind of a till settlement's tender total: its TenderType, else its summary's (as for tenders). */
export function tenderKindOf(total: XNode, summary: XNode): string {
  return attr(total, 'TenderType') !== undefined || textAt(total, 'TenderType') !== undefined
    ? kindOf(total)
    : kindOf(summary);
}

/**
 * A known TenderType, else what its child elements say (CreditDebit → card), else the TenderType itself, else "other".
 */
function kindOf(tender: XNode): string {
  const type = enumValue(attr(tender, 'TenderType') ?? textAt(tender, 'TenderType'));
  const known = type === undefined ? undefined : KINDS[type.replace(/[\s_-]/g, '')];
  if (known !== undefined) return known;
  for (const [name, kind] of KIND_BY_CHILD) if (child(tender, name)) return kind;
  const cleaned = type?.replace(/[^a-z0-9_-]/g, '').slice(0, 32);
  return cleaned === undefined || cleaned === '' ? 'other' : cleaned;
}

export function readTender(tender: XNode, minorUnitDigits: number): ReadTender {
  const minor = toMinorUnits(textAt(tender, 'Amount'), minorUnitDigits);
  if (minor === undefined)
    throw new TbError(TbCodes.INVALID, 'Tender/Amount: expected a decimal amount with at most 7 decimals');
  const out: TenderOut = { kind: kindOf(tender), amount: Math.abs(minor) };
  const pan = cardNumber(tender);
  if (pan !== undefined) out.pan = pan;
  return { tender: out, refund: enumValue(attr(tender, 'TypeCode')) === 'refund' };
}

function cardNumber(tender: XNode): string | undefined {
  const candidates: string[] = [];
  for (const cd of tender.children.filter((c) => c.name === 'CreditDebit')) {
    for (const name of ['PrimaryAccountNumber', 'AccountNumber']) {
      const t = textAt(cd, name);
      if (t !== undefined) candidates.push(t);
    }
  }
  for (const name of ['MaskedCardNumber', 'MaskedPAN', 'MaskedAccountNumber']) {
    for (const el of descendants(tender, name, 4)) if (el.text !== '') candidates.push(el.text);
  }
  for (const c of candidates) {
    const r = classify(c);
    if (r !== undefined) return r;
  }
  return undefined;
}

const MASK_CHARS = /[*xX#•]/;

/** A value to pass on as `pan`, or undefined when it is unreadable (encrypted) or shows too little to matter. */
function classify(raw: string): string | undefined {
  const compact = raw.replace(/[\s-]/g, '');
  if (compact === '') return undefined;
  if (/^\d{13,19}$/.test(compact) || isMaskedPan(compact)) return compact;
  // masked, but not as first 6 / last 4 (e.g. "*************641"): safe, and of no use
  if (MASK_CHARS.test(compact) && /^[\d*xX#•]+$/.test(compact) && compact.replace(/\D/g, '').length <= 10)
    return undefined;
  if (
    /^[A-Za-z0-9+/]+={0,2}$/.test(compact) &&
    compact.length % 4 === 0 &&
    compact.length >= 16 &&
    /\D/.test(compact)
  ) {
    const decoded = Buffer.from(compact, 'base64').toString('latin1').replace(/[\s-]/g, '');
    if (/^\d{13,19}$/.test(decoded) || isMaskedPan(decoded)) return decoded;
    return undefined; // encrypted or otherwise unreadable
  }
  if (/^[0-9A-Fa-f]{16,}$/.test(compact) && /[A-Fa-f]/.test(compact)) return undefined; // hex cipher text
  return raw; // not a card number we can read: the gateway refuses it without echoing it
}
