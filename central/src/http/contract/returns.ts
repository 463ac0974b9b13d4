import { z } from 'zod';
import { admin } from './route.js';

const nullableString = z.string().nullable();

/** A return ticket as lists show it. */
export const returnSummary = z.object({
  authorization: z.string(),
  store: z.string(),
  register: z.string(),
  /** null: a return without a receipt */
  receipt: nullableString,
  /** the store that issued the receipt (null: no sale was found) */
  receiptStore: nullableString,
  mode: z.enum(['online', 'offline']),
  decision: z.enum(['approved', 'conditional', 'override_required', 'denied']),
  status: z.enum(['reserved', 'completed', 'cancelled', 'expired', 'denied', 'reversed']),
  kind: nullableString,
  exception: nullableString,
  reconciliation: nullableString,
  resolution: nullableString,
  reason: nullableString,
  refund: z.number().nullable(),
  refundKind: nullableString,
  createdAt: z.string(),
  completedAt: nullableString,
});

export const returnLine = z.object({
  line: z.number(),
  sku: nullableString,
  requested: z.number(),
  approved: z.number(),
  completed: z.number(),
  disposition: z.enum(['restock', 'damaged']),
  code: z.string(),
  reason: nullableString,
});

/** The most tickets one page holds, and how many when the query names no limit. */
export const RETURNS_PAGE = { max: 1000, default: 100 } as const;

export const listReturns = admin.get(
  '/returns',
  z.object({
    returns: z.array(returnSummary.extend({ lines: z.array(returnLine) })),
    /** pass as `after` for the next page; null: this was the last */
    next: nullableString,
  }),
  z.object({
    store: z.string().optional(),
    limit: z.coerce.number().int().min(1).max(RETURNS_PAGE.max).optional(),
    /** the `next` of the page before (opaque) */
    after: z.string().optional(),
  }),
);

const ruleFired = z.object({ code: z.string(), detail: z.string(), line: z.number().optional() });

/** The whole ticket: request, rules that fired, decision, override, completion, reconciliation. */
export const showReturn = admin.get(
  '/returns/:authorization',
  returnSummary.omit({ reconciliation: true, resolution: true }).extend({
    /** the sale's currency, which every amount of the ticket is in (null: no receipt) */
    currency: nullableString,
    request: z.record(z.string(), z.unknown()),
    policyVersion: z.number(),
    rules: z.array(ruleFired),
    decisionDetail: z.object({
      allowedTenders: z.array(z.string()),
      conditions: z.array(z.string()),
      grossRefund: z.number().nullable(),
      fees: z.number(),
      expiresAt: nullableString,
    }),
    lines: z.array(returnLine),
    exchange: z.array(z.object({ sku: z.string(), qty: z.number(), approved: z.number(), code: z.string() })),
    override: z.object({ manager: z.string(), at: nullableString }).nullable(),
    completion: z
      .object({
        at: z.string(),
        refund: z.object({ kind: nullableString, amount: z.number().nullable() }),
        kind: nullableString,
      })
      .nullable(),
    reconciliation: z
      .object({ result: nullableString, exception: nullableString, lateOnlineReplaced: z.boolean() })
      .nullable(),
    resolution: z
      .object({ action: z.string(), by: nullableString, at: nullableString, note: nullableString })
      .nullable(),
    exceptions: z.array(
      z.object({
        id: z.string(),
        code: z.string(),
        reason: z.string(),
        createdAt: z.string(),
        resolvedAt: nullableString,
      }),
    ),
  }),
);

export const listExceptions = admin.get(
  '/exceptions',
  z.array(
    z.object({
      id: z.string(),
      store: z.string(),
      register: nullableString,
      kind: z.string(),
      code: z.string(),
      reason: z.string(),
      authorization: nullableString,
      eventId: nullableString,
      createdAt: z.string(),
      resolvedAt: nullableString,
      resolution: z.object({ action: z.string(), note: z.string(), by: z.string() }).nullable(),
    }),
  ),
  z.object({ store: z.string().optional(), open: z.literal('true').optional() }),
);

export const resolveException = admin.post(
  '/exceptions/:id/resolve',
  z.object({
    resolved: z.array(z.string()),
    authorization: nullableString,
    moved: z.array(z.object({ sku: z.string(), qty: z.number() })),
  }),
);
