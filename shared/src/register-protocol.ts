import * as z from 'zod';
import { Currency, MinorUnits } from './money.js';
import { Quantity, QuantityOrZero } from './quantity.js';

/**
 * The canonical register model. Every codec (JSON lines, POSLog, legacy record formats)
 * translates its register's protocol into these messages and back. See docs/register-protocol.md.
 */

/** A UTF-16 surrogate not in a pair: JSON may carry one (`"\\ud800"`), no database's text column keeps it. */
const LONE_SURROGATE = /\p{Cs}/u;
const WELL_FORMED = 'well-formed Unicode text (a lone surrogate such as \\ud800 is not a character)';

/** Text that is stored and compared as sent: not empty, at most `max` UTF-16 units, no lone surrogate. */
const Text = (max: number) =>
  z
    .string()
    .min(1, 'a non-empty string')
    .max(max, `at most ${max} characters`)
    .refine((s) => !LONE_SURROGATE.test(s), WELL_FORMED);

export const MessageId = Text(128);
export const Receipt = Text(64);
/** A store's id, as the hub knows it (`tillbridge-hub stores add`). */
export const StoreId = Text(64);
export const Sku = Text(64);
export const AuthorizationId = Text(64);
export const LineNo = z.number().int('an integer line number').min(1, 'a line number from 1').max(100_000);
export const Disposition = z.enum(['restock', 'damaged']);
export type Disposition = z.infer<typeof Disposition>;

/** ISO 8601 date-time with a zone (`Z` or `±hh:mm`). */
export const Timestamp = z.iso.datetime({
  offset: true,
  error: 'an ISO 8601 date-time with a zone, e.g. 2026-11-27T10:15:00Z',
});

function uniqueLines(lines: readonly { line: number }[]): boolean {
  return new Set(lines.map((l) => l.line)).size === lines.length;
}

export const SaleLine = z.strictObject({
  line: LineNo,
  sku: Sku,
  qty: Quantity,
  unitPrice: MinorUnits.refine((n) => n >= 0, 'zero or more'),
});
export type SaleLine = z.infer<typeof SaleLine>;

/** Money moving by one means of payment, either way: what a Tender and a Refund both are. */
const Payment = z.strictObject({
  kind: Text(32),
  amount: MinorUnits,
  /** A full PAN is accepted on input only to be masked at once; stored and sent on masked. */
  pan: z.string().max(32).optional(),
});

export const Tender = Payment.extend({
  /** Set by the gateway (never by a register): keyed hash of the PAN, to find the sale by card. */
  panHash: z.string().max(64).optional(),
});
export type Tender = z.infer<typeof Tender>;

export const SaleMessage = z.strictObject({
  type: z.literal('sale'),
  id: MessageId,
  receipt: Receipt,
  at: Timestamp,
  currency: Currency,
  lines: z.array(SaleLine).min(1, 'at least one line').max(1000).refine(uniqueLines, 'line numbers must be unique'),
  tenders: z.array(Tender).max(50).default([]),
});
export type SaleMessage = z.infer<typeof SaleMessage>;

/**
 * A line to return, named by the original sale's `line` number or, when the register does not
 * know it (many POSLog returns carry only the item id), by `sku`: the hub resolves it to the
 * receipt's first line of that SKU with enough left to return.
 */
export const ReturnRequestLine = z
  .strictObject({
    line: LineNo.optional(),
    sku: Sku.optional(),
    qty: Quantity,
    /** Only for a return without a receipt: the price to refund per unit (minor units). */
    unitPrice: MinorUnits.refine((n) => n >= 0, 'zero or more').optional(),
    reason: Text(200).optional(),
    disposition: Disposition.default('restock'),
  })
  .refine((l) => (l.line === undefined) !== (l.sku === undefined), 'either "line" or "sku", not both');
export type ReturnRequestLine = z.infer<typeof ReturnRequestLine>;

/** The key a request line is known by: its line number, or its SKU. */
export function requestLineKey(l: { line?: number | undefined; sku?: string | undefined }): string {
  return l.line !== undefined ? `line:${l.line}` : `sku:${l.sku}`;
}

/** Each line number or SKU at most once in a request's or a completion's lines. */
export function uniqueRequestLines(lines: { line?: number | undefined; sku?: string | undefined }[]): boolean {
  return new Set(lines.map(requestLineKey)).size === lines.length;
}

export const ExchangeItem = z.strictObject({ sku: Sku, qty: Quantity });
export type ExchangeItem = z.infer<typeof ExchangeItem>;

/**
 * Which sale a return or a look-up is about: a `receipt` (of `originalStore`, when another store
 * issued it), or the `card` it was paid with (the gateway puts its keyed hash, `cardHash`, instead).
 */
const SaleReference = {
  receipt: Receipt.optional(),
  originalStore: StoreId.optional(),
  card: z.string().max(32).optional(),
  cardHash: z.string().max(64).optional(),
};
const originalStoreWithReceipt = (m: { originalStore?: string | undefined; receipt?: string | undefined }): boolean =>
  m.originalStore === undefined || m.receipt !== undefined;
const ORIGINAL_STORE_WITH_RECEIPT = '"originalStore" goes with "receipt"';

/**
 * A return, for a `receipt`, or for the sale found by the `card` it was paid with (the gateway
 * replaces the card number by its keyed hash, `cardHash`), or with neither (non-receipted, when
 * the policy allows: lines by sku with a unitPrice). `exchange`: items the customer takes instead.
 * Receipt numbers are each store's own: `originalStore` names the store that issued the receipt;
 * without it the hub takes this store's receipt, else the only store that issued that number
 * (several: every line is refused with `receipt_ambiguous`, and the register asks again naming it).
 */
export const ReturnRequestMessage = z
  .strictObject({
    type: z.literal('return.request'),
    id: MessageId,
    ...SaleReference,
    lines: z
      .array(ReturnRequestLine)
      .min(1, 'at least one line')
      .max(1000)
      .refine(uniqueRequestLines, 'each line number or SKU at most once'),
    exchange: z.array(ExchangeItem).max(50).optional(),
  })
  .refine(
    (m) => !(m.receipt !== undefined && (m.card !== undefined || m.cardHash !== undefined)),
    'either "receipt" or "card", not both',
  )
  .refine(originalStoreWithReceipt, ORIGINAL_STORE_WITH_RECEIPT);
export type ReturnRequestMessage = z.infer<typeof ReturnRequestMessage>;

/** A payment back to the customer: never a negative amount, and never a PAN hash. */
export const Refund = Payment.extend({
  amount: MinorUnits.refine((n) => n >= 0, 'zero or more'),
});
export type Refund = z.infer<typeof Refund>;

export const ReturnCompleteMessage = z.strictObject({
  type: z.literal('return.complete'),
  id: MessageId,
  authorization: AuthorizationId,
  /** The lines returned: by the receipt's line number, or by sku (as they were asked for). */
  lines: z
    .array(
      z
        .strictObject({ line: LineNo.optional(), sku: Sku.optional(), qty: Quantity })
        .refine((l) => (l.line === undefined) !== (l.sku === undefined), 'either "line" or "sku", not both'),
    )
    .min(1, 'at least one line')
    .max(1000)
    .refine(uniqueRequestLines, 'each line number or SKU at most once'),
  refund: Refund,
});
export type ReturnCompleteMessage = z.infer<typeof ReturnCompleteMessage>;

export const ReturnCancelMessage = z.strictObject({
  type: z.literal('return.cancel'),
  id: MessageId,
  authorization: AuthorizationId,
});
export type ReturnCancelMessage = z.infer<typeof ReturnCancelMessage>;

/** A manager's override of an `override_required` decision; answered with the new `return.decision`. */
export const ReturnOverrideMessage = z.strictObject({
  type: z.literal('return.override'),
  id: MessageId,
  authorization: AuthorizationId,
  manager: Text(64),
  code: Text(64),
});
export type ReturnOverrideMessage = z.infer<typeof ReturnOverrideMessage>;

/** A register reporting its own state (paper out, drawer open, logged off…); answered with `ack`. */
export const StatusMessage = z.strictObject({
  type: z.literal('status'),
  id: MessageId,
  state: z.string().regex(/^[a-z][a-z0-9_.-]{0,31}$/, 'a state word such as ready, busy, offline, error'),
  detail: z
    .string()
    .max(200)
    .refine((s) => !LONE_SURROGATE.test(s), WELL_FORMED)
    .optional(),
});
export type StatusMessage = z.infer<typeof StatusMessage>;

/**
 * What is still returnable on a receipt (or on the sales paid with a card); answered with `receipt`.
 * `originalStore`: the store that issued the receipt, as in `return.request`.
 */
export const ReceiptLookupMessage = z
  .strictObject({
    type: z.literal('receipt.lookup'),
    id: MessageId,
    ...SaleReference,
  })
  .refine(
    (m) => (m.receipt !== undefined) !== (m.card !== undefined || m.cardHash !== undefined),
    'either "receipt" or "card"',
  )
  .refine(originalStoreWithReceipt, ORIGINAL_STORE_WITH_RECEIPT);
export type ReceiptLookupMessage = z.infer<typeof ReceiptLookupMessage>;

/** Count and amount (minor units) of one kind of transaction in a day-close total. */
export const DayTotal = z.strictObject({
  count: z.number().int().nonnegative(),
  amount: MinorUnits,
});
export type DayTotal = z.infer<typeof DayTotal>;

/**
 * A register's day close (the Z report): its totals for one business day (a date in the store's
 * time zone). `sales`: the sales rung up and what their tenders took; `returns`: the returns
 * completed and what they refunded; `tenders`: per tender kind, what it took in sales minus what
 * it paid out in refunds. Answered with `ack` once durable; the hub reconciles it
 * (docs/reconciliation.md).
 */
export const DayCloseMessage = z.strictObject({
  type: z.literal('day.close'),
  id: MessageId,
  businessDay: z.string().regex(/^\d{4}-\d{2}-\d{2}$/, 'a date YYYY-MM-DD'),
  closedAt: Timestamp.optional(),
  currency: Currency.optional(),
  sales: DayTotal,
  returns: DayTotal,
  tenders: z
    .array(z.strictObject({ kind: Text(32), amount: MinorUnits }))
    .max(50)
    .default([]),
});
export type DayCloseMessage = z.infer<typeof DayCloseMessage>;

export const RegisterMessage = z.discriminatedUnion('type', [
  SaleMessage,
  ReturnRequestMessage,
  ReturnCompleteMessage,
  ReturnCancelMessage,
  ReturnOverrideMessage,
  StatusMessage,
  ReceiptLookupMessage,
  DayCloseMessage,
]);
export type RegisterMessage = z.infer<typeof RegisterMessage>;
export const REGISTER_MESSAGE_TYPES = [
  'sale',
  'return.request',
  'return.complete',
  'return.cancel',
  'return.override',
  'status',
  'receipt.lookup',
  'day.close',
] as const;

/** Per-line response codes of a return decision. Stable: registers branch on them. */
export const LineCodes = {
  OK: 'ok',
  RECEIPT_NOT_FOUND: 'receipt_not_found',
  LINE_NOT_FOUND: 'line_not_found',
  EXCEEDS_RETURNABLE: 'exceeds_returnable',
  RECEIPT_UNKNOWN_OFFLINE: 'receipt_unknown_offline',
  /** The receipt number was issued at more than one other store: ask again with `originalStore`. */
  RECEIPT_AMBIGUOUS: 'receipt_ambiguous',
  OFFLINE_LIMIT: 'offline_limit_exceeded',
  OTHER_LINE_REFUSED: 'other_line_refused',
} as const;
export type LineCode = (typeof LineCodes)[keyof typeof LineCodes];

export const DecisionLine = z.object({
  /** The receipt's line; 0 when a line asked for by SKU matched no line of the receipt. */
  line: z.number().int().nonnegative(),
  /** Present when the request named the line by SKU. */
  sku: Sku.optional(),
  approvedQty: QuantityOrZero,
  /** Why: `ok`, or the code of what refused the line or holds it for a manager. */
  code: z.string(),
  /** What the approved quantity refunds, after its restocking fee (minor units). */
  refund: MinorUnits.refine((n) => n >= 0, 'zero or more').optional(),
  /** The restocking fee taken off this line's refund, when there is one. */
  fee: MinorUnits.refine((n) => n >= 0, 'zero or more').optional(),
  /** The code of every rule that shaped this line (its own, and those of the whole return). */
  rules: z.array(z.string()).optional(),
});
export type DecisionLine = z.infer<typeof DecisionLine>;

/**
 * approved: go ahead. conditional: go ahead under `conditions` (e.g. store credit only, ID).
 * override_required: a manager may override (`return.override`). denied: no.
 */
export const Decision = z.enum(['approved', 'conditional', 'override_required', 'denied']);
export type Decision = z.infer<typeof Decision>;
export const DecisionMode = z.enum(['online', 'offline']);
export type DecisionMode = z.infer<typeof DecisionMode>;

export interface AckReply {
  type: 'ack';
  id: string;
}

export interface ReturnDecisionReply {
  type: 'return.decision';
  id: string;
  authorization: string;
  decision: Decision;
  mode: DecisionMode;
  lines: DecisionLine[];
  /** Refund after restocking fees, minor units. */
  refundAmount?: number;
  /** Where the refund may go: card, cash, store_credit, gift_card, original_payment. */
  allowedTenders?: string[];
  conditions?: string[];
  /** Until when the approval holds its quantity. */
  expiresAt?: string;
  exchange?: { sku: string; qty: number; approvedQty: number; code: string }[];
  /** The receipt the card found (returns by card). */
  receipt?: string;
  reason?: string;
}

export interface ErrorReply {
  type: 'error';
  id?: string;
  code: string;
  message: string;
}

/** A receipt and what is still returnable on each line (answer to `receipt.lookup`, or pushed after a scan). */
export interface ReceiptReply {
  type: 'receipt';
  id: string;
  receipt: string;
  found: boolean;
  /** `hub`: authoritative, every store and channel counted; `local`: this agent's view (offline). */
  source: 'hub' | 'local';
  store?: string;
  currency?: string;
  at?: string;
  lines: { line: number; sku: string; qty: number; unitPrice: number; returnable: number }[];
  /**
   * For a lookup by card: every sale paid with it within the return window, newest first. For a
   * receipt number several other stores issued (`code: receipt_ambiguous`): those sales.
   */
  matches?: { receipt: string; store: string; at: string }[];
  /** Why nothing was found, when it is not simply unknown: `receipt_ambiguous`. */
  code?: string;
}

export type RegisterReply = AckReply | ReturnDecisionReply | ErrorReply | ReceiptReply;
