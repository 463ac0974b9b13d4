import * as z from 'zod';

/**
 * A returns policy: the rules a return request is judged by, online at the hub and offline at
 * the agent. The hub keeps a default policy and per-store overrides (partial policies merged
 * over the default), each change a new version. Every rule that fires has a stable code
 * (`PolicyCodes`), stored with the return ticket. Money in minor units.
 */

const Money = z.number().int().nonnegative();
const MoneyOrNull = Money.nullable();

export const TENDER_KINDS = ['cash', 'card', 'store_credit', 'gift_card', 'original_payment'] as const;
export const TenderKind = z.enum(TENDER_KINDS);
export type TenderKind = z.infer<typeof TenderKind>;

export const PolicySchema = z.strictObject({
  /** Days after the sale a return is accepted; after that a manager may override (see windowOverridable). */
  returnWindowDays: z.number().int().min(0).max(3650).default(30),
  /** Outside the window: `true` asks for a manager, `false` denies outright. */
  windowOverridable: z.boolean().default(true),
  receipt: z
    .strictObject({
      /** A return must name a receipt (or a card that finds the sale). */
      required: z.boolean().default(true),
      /** When receipts are not required: largest refund without one (store credit only). */
      noReceiptMaxRefund: Money.default(0),
    })
    .default({ required: true, noReceiptMaxRefund: 0 }),
  /** Largest refund for one return; above it the return is denied. null: no limit. */
  maxRefundPerReturn: MoneyOrNull.default(null),
  /** Largest total approved per store per UTC day; above it a manager must override. null: no limit. */
  maxRefundPerStorePerDay: MoneyOrNull.default(null),
  nonReturnable: z
    .strictObject({
      skus: z.array(z.string().min(1).max(64)).max(10_000).default([]),
      prefixes: z.array(z.string().min(1).max(64)).max(1000).default([]),
    })
    .default({ skus: [], prefixes: [] }),
  tenders: z
    .strictObject({
      /** Card sales: refund to the same card or store credit (else also cash). */
      cardToSameCard: z.boolean().default(true),
      /** Cash sales: refund cash up to this amount, store credit above it. */
      cashRefundLimit: Money.default(20_000),
    })
    .default({ cardToSameCard: true, cashRefundLimit: 20_000 }),
  /** Restocking fee in percent of the line's refund, for SKUs starting with a prefix (first match wins). */
  restockingFees: z
    .array(z.strictObject({ skuPrefix: z.string().min(1).max(64), percent: z.number().min(0).max(100) }))
    .max(1000)
    .default([]),
  /** Refunds above this need a manager's override. null: never. */
  managerOverrideAbove: MoneyOrNull.default(null),
  /** How long an approval holds its quantity (minutes). */
  reservationMinutes: z
    .number()
    .int()
    .min(1)
    .max(7 * 24 * 60)
    .default(15),
  offline: z
    .strictObject({
      /** Largest refund the agent approves on its own. */
      maxRefundPerReturn: Money.default(10_000),
      /** Largest total one register approves offline per UTC day. null: no limit. */
      maxRefundPerRegisterPerDay: MoneyOrNull.default(50_000),
      /** Offline, a return must name a receipt sold at this store. */
      receiptRequired: z.boolean().default(true),
    })
    .default({ maxRefundPerReturn: 10_000, maxRefundPerRegisterPerDay: 50_000, receiptRequired: true }),
});
export type Policy = z.infer<typeof PolicySchema>;

/** The policy every hub starts with. */
export const DEFAULT_POLICY: Policy = PolicySchema.parse({});

/** A partial policy (a store override, or what `policy set` receives): any subset of keys, deep. */
export const PolicyPatchSchema = z.strictObject({
  returnWindowDays: PolicySchema.shape.returnWindowDays.unwrap().optional(),
  windowOverridable: z.boolean().optional(),
  receipt: z.strictObject({ required: z.boolean().optional(), noReceiptMaxRefund: Money.optional() }).optional(),
  maxRefundPerReturn: MoneyOrNull.optional(),
  maxRefundPerStorePerDay: MoneyOrNull.optional(),
  nonReturnable: z
    .strictObject({
      skus: z.array(z.string().min(1).max(64)).max(10_000).optional(),
      prefixes: z.array(z.string().min(1).max(64)).max(1000).optional(),
    })
    .optional(),
  tenders: z.strictObject({ cardToSameCard: z.boolean().optional(), cashRefundLimit: Money.optional() }).optional(),
  restockingFees: z
    .array(z.strictObject({ skuPrefix: z.string().min(1).max(64), percent: z.number().min(0).max(100) }))
    .max(1000)
    .optional(),
  managerOverrideAbove: MoneyOrNull.optional(),
  reservationMinutes: z
    .number()
    .int()
    .min(1)
    .max(7 * 24 * 60)
    .optional(),
  offline: z
    .strictObject({
      maxRefundPerReturn: Money.optional(),
      maxRefundPerRegisterPerDay: MoneyOrNull.optional(),
      receiptRequired: z.boolean().optional(),
    })
    .optional(),
});
export type PolicyPatch = z.infer<typeof PolicyPatchSchema>;

/** `base` with `patch` laid over it: objects merge key by key, arrays and values replace. */
export function mergePolicy(base: Policy, patch: PolicyPatch): Policy {
  const out: Record<string, unknown> = structuredClone(base);
  const entries: [string, unknown][] = Object.entries(patch);
  for (const [k, v] of entries) {
    if (v === undefined) continue;
    const cur = out[k];
    if (v && typeof v === 'object' && !Array.isArray(v) && cur && typeof cur === 'object' && !Array.isArray(cur)) {
      out[k] = { ...cur, ...Object.fromEntries(Object.entries(v).filter(([, x]) => x !== undefined)) };
    } else out[k] = v;
  }
  return PolicySchema.parse(out);
}

/**
 * Stable codes: on each decision line (`code`), in a ticket's rules fired, in reconciliation
 * exceptions. Registers and operators branch on them; never rename one.
 */
export const PolicyCodes = {
  OUTSIDE_WINDOW: 'outside_window',
  RECEIPT_REQUIRED: 'receipt_required',
  NO_RECEIPT_LIMIT: 'no_receipt_limit',
  MAX_REFUND_EXCEEDED: 'max_refund_exceeded',
  STORE_DAILY_LIMIT: 'store_daily_limit',
  NON_RETURNABLE: 'non_returnable',
  STORE_CREDIT_ONLY: 'store_credit_only',
  RESTOCKING_FEE: 'restocking_fee',
  MANAGER_OVERRIDE: 'manager_override_required',
  OFFLINE_REGISTER_DAILY_LIMIT: 'offline_register_daily_limit',
  OFFLINE_RECEIPT_REQUIRED: 'offline_receipt_required',
  OVERRIDE_UNAVAILABLE_OFFLINE: 'override_unavailable_offline',
  OUT_OF_STOCK: 'out_of_stock',
  EXCHANGE_UNAVAILABLE_OFFLINE: 'exchange_unavailable_offline',
  ID_REQUIRED: 'id_required',
  OVERRIDDEN: 'overridden',
  OFFLINE_DISABLED: 'offline_disabled',
} as const;
export type PolicyCode = (typeof PolicyCodes)[keyof typeof PolicyCodes];
