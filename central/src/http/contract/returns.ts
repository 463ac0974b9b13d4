import * as z from 'zod/mini';
import { admin } from './route.js';

const nullableString = z.nullable(z.string());

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
  refund: z.nullable(z.number()),
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
    returns: z.array(z.extend(returnSummary, { lines: z.array(returnLine) })),
    /** pass as `after` for the next page; null: this was the last */
    next: nullableString,
  }),
  z.object({
    store: z.optional(z.string()),
    limit: z.optional(z.coerce.number().check(z.int(), z.minimum(1), z.maximum(RETURNS_PAGE.max))),
    /** the `next` of the page before (opaque) */
    after: z.optional(z.string()),
  }),
);

const ruleFired = z.object({ code: z.string(), detail: z.string(), line: z.optional(z.number()) });

/** The whole ticket: request, rules that fired, decision, override, completion, reconciliation. */
export const showReturn = admin.get(
  '/returns/:authorization',
  z.extend(z.omit(returnSummary, { reconciliation: true, resolution: true }), {
    /** the sale's currency, which every amount of the ticket is in (null: no receipt) */
    currency: nullableString,
    request: z.record(z.string(), z.unknown()),
    policyVersion: z.number(),
    rules: z.array(ruleFired),
    decisionDetail: z.object({
      allowedTenders: z.array(z.string()),
      conditions: z.array(z.string()),
      grossRefund: z.nullable(z.number()),
      fees: z.number(),
      expiresAt: nullableString,
    }),
    lines: z.array(returnLine),
    exchange: z.array(z.object({ sku: z.string(), qty: z.number(), approved: z.number(), code: z.string() })),
    override: z.nullable(z.object({ manager: z.string(), at: nullableString })),
    completion: z.nullable(
      z.object({
        at: z.string(),
        refund: z.object({ kind: nullableString, amount: z.nullable(z.number()) }),
        kind: nullableString,
      }),
    ),
    reconciliation: z.nullable(
      z.object({ result: nullableString, exception: nullableString, lateOnlineReplaced: z.boolean() }),
    ),
    resolution: z.nullable(
      z.object({ action: z.string(), by: nullableString, at: nullableString, note: nullableString }),
    ),
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
      resolution: z.nullable(z.object({ action: z.string(), note: z.string(), by: z.string() })),
    }),
  ),
  z.object({ store: z.optional(z.string()), open: z.optional(z.literal('true')) }),
);

export const resolveException = admin.post(
  '/exceptions/:id/resolve',
  z.object({
    resolved: z.array(z.string()),
    authorization: nullableString,
    moved: z.array(z.object({ sku: z.string(), qty: z.number() })),
  }),
);
