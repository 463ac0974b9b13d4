import { REGISTER_MESSAGE_TYPES, type RegisterReply } from '@tillbridge/shared';

/**
 * What a record profile may map to and from: the canonical fields of each register message
 * (with whether the canonical schema requires them) and the values each reply offers.
 * Profiles are checked against these tables when they load, so a misspelt target is a
 * configuration error rather than a refused sale.
 */

export type MessageType = (typeof REGISTER_MESSAGE_TYPES)[number];
export const MESSAGE_TYPES = REGISTER_MESSAGE_TYPES;
export type ArrayName = 'lines' | 'tenders';
export const ARRAY_NAMES = ['lines', 'tenders'] as const;

export interface MessageShape {
  /**
   * Canonical fields of the message itself (dotted for nested ones): required or not. `id` is never required: without
   * it the id is derived from the frame.
   */
  fields: Record<string, boolean>;
  /** Arrays of items, the fields of one item, and groups of item fields of which at least one must be mapped. */
  arrays: Partial<Record<ArrayName, { required: boolean; fields: Record<string, boolean>; oneOf?: readonly string[] }>>;
}

export const MESSAGE_SHAPES: Record<MessageType, MessageShape> = {
  sale: {
    fields: { id: false, receipt: true, at: true, currency: true },
    arrays: {
      lines: { required: true, fields: { line: true, sku: true, qty: true, unitPrice: true } },
      tenders: { required: false, fields: { kind: true, amount: true, pan: false } },
    },
  },
  'return.request': {
    // a receipt (and the store that issued it), a card, or neither (a non-receipted return, when the policy allows)
    fields: { id: false, receipt: false, originalStore: false, card: false },
    // a line is named by the sale's line number or by its SKU (the hub resolves the SKU)
    arrays: {
      lines: {
        required: true,
        fields: { line: false, sku: false, qty: true, reason: false, disposition: false, unitPrice: false },
        oneOf: ['line', 'sku'],
      },
    },
  },
  'return.complete': {
    fields: { id: false, authorization: true, 'refund.kind': true, 'refund.amount': true, 'refund.pan': false },
    arrays: { lines: { required: true, fields: { line: false, sku: false, qty: true }, oneOf: ['line', 'sku'] } },
  },
  'return.cancel': { fields: { id: false, authorization: true }, arrays: {} },
  'return.override': { fields: { id: false, authorization: true, manager: true, code: true }, arrays: {} },
  status: { fields: { id: false, state: true, detail: false }, arrays: {} },
  'receipt.lookup': { fields: { id: false, receipt: false, originalStore: false, card: false }, arrays: {} },
  'day.close': {
    fields: {
      id: false,
      businessDay: true,
      closedAt: false,
      currency: false,
      'sales.count': true,
      'sales.amount': true,
      'returns.count': true,
      'returns.amount': true,
    },
    arrays: { tenders: { required: false, fields: { kind: true, amount: true } } },
  },
};

export type ReplyType = RegisterReply['type'];
export const REPLY_TYPES = ['ack', 'return.decision', 'error', 'receipt'] as const satisfies readonly ReplyType[];

/** Values a reply record may be filled from (besides `context.NAME` and constants). */
export const REPLY_SOURCES: Record<ReplyType, { fields: readonly string[]; items: readonly string[] }> = {
  ack: { fields: ['id'], items: [] },
  'return.decision': {
    fields: [
      'id',
      'authorization',
      'decision',
      'mode',
      'reason',
      'lines.count',
      'refundAmount',
      'receipt',
      'expiresAt',
    ],
    items: ['line', 'sku', 'approvedQty', 'code'],
  },
  error: { fields: ['id', 'code', 'message'], items: [] },
  receipt: {
    fields: ['id', 'receipt', 'found', 'source', 'store', 'currency', 'at', 'code', 'lines.count'],
    items: ['line', 'sku', 'qty', 'unitPrice', 'returnable'],
  },
};
