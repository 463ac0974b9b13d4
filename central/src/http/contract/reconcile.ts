import { z } from 'zod';
import { admin } from './route.js';

const count = z.object({ count: z.number(), amount: z.number() });
const tender = z.object({ kind: z.string(), amount: z.number() });
const totals = z.object({ sales: count, returns: count, tenders: z.array(tender) });
const ids = z.object({ receipts: z.array(z.string()), authorizations: z.array(z.string()) });
const elsewhere = z.object({ id: z.string(), register: z.string().nullable(), businessDay: z.string().nullable() });

/** A register's business day as the hub reconciled it (docs/reconciliation.md). */
export const registerDay = z.object({
  store: z.string(),
  register: z.string(),
  businessDay: z.string(),
  source: z.string(),
  status: z.enum(['matched', 'discrepancy', 'resending']),
  currency: z.string().nullable(),
  reported: totals,
  recorded: totals.nullable(),
  differences: z
    .object({
      missing: ids,
      extra: ids,
      elsewhere: z.object({ receipts: z.array(elsewhere), authorizations: z.array(elsewhere) }),
      totals: z.array(z.object({ what: z.string(), register: z.number(), hub: z.number() })),
    })
    .nullable(),
  closedAt: z.string(),
  reportedAt: z.string(),
  reconciledAt: z.string().nullable(),
  resendAttempts: z.number(),
  missing: ids,
  exception: z.object({ id: z.string(), resolved: z.boolean() }).nullable(),
});

export const reconcileDay = admin.get(
  '/reconcile',
  z.object({
    day: z.string(),
    store: z.string().nullable(),
    summary: z.object({ registers: z.number(), matched: z.number(), resending: z.number(), discrepancy: z.number() }),
    registers: z.array(registerDay),
  }),
  z.object({ day: z.string(), store: z.string().optional() }),
);
