import * as z from 'zod/mini';
import { admin } from './route.js';

const count = z.object({ count: z.number(), amount: z.number() });
const tender = z.object({ kind: z.string(), amount: z.number() });
const totals = z.object({ sales: count, returns: count, tenders: z.array(tender) });
const ids = z.object({ receipts: z.array(z.string()), authorizations: z.array(z.string()) });
const elsewhere = z.object({ id: z.string(), register: z.nullable(z.string()), businessDay: z.nullable(z.string()) });

/** A register's business day as the hub reconciled it (docs/reconciliation.md). */
export const registerDay = z.object({
  store: z.string(),
  register: z.string(),
  businessDay: z.string(),
  source: z.string(),
  status: z.enum(['matched', 'discrepancy', 'resending']),
  currency: z.nullable(z.string()),
  reported: totals,
  recorded: z.nullable(totals),
  differences: z.nullable(
    z.object({
      missing: ids,
      extra: ids,
      elsewhere: z.object({ receipts: z.array(elsewhere), authorizations: z.array(elsewhere) }),
      totals: z.array(z.object({ what: z.string(), register: z.number(), hub: z.number() })),
    }),
  ),
  closedAt: z.string(),
  reportedAt: z.string(),
  reconciledAt: z.nullable(z.string()),
  resendAttempts: z.number(),
  missing: ids,
  exception: z.nullable(z.object({ id: z.string(), resolved: z.boolean() })),
});

export const reconcileDay = admin.get(
  '/reconcile',
  z.object({
    day: z.string(),
    store: z.nullable(z.string()),
    summary: z.object({ registers: z.number(), matched: z.number(), resending: z.number(), discrepancy: z.number() }),
    registers: z.array(registerDay),
  }),
  z.object({ day: z.string(), store: z.optional(z.string()) }),
);
