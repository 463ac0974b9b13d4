import * as z from 'zod/mini';
import { admin } from './route.js';

const nullableString = z.nullable(z.string());

export const showSale = admin.get(
  '/sales/:receipt',
  z.object({
    receipt: z.string(),
    store: z.string(),
    register: nullableString,
    channel: z.string(),
    at: z.string(),
    currency: z.string(),
    total: z.number(),
    /** as the register sent them (card numbers masked) */
    tenders: z.array(z.unknown()),
    lines: z.array(
      z.object({
        line: z.number(),
        sku: z.string(),
        qty: z.number(),
        unitPrice: z.number(),
        returnedOrReserved: z.number(),
        returnable: z.number(),
      }),
    ),
    returns: z.array(
      z.object({
        authorization: z.string(),
        store: z.string(),
        decision: z.string(),
        status: z.string(),
        kind: nullableString,
        exception: nullableString,
      }),
    ),
  }),
  /** the store that issued the receipt (receipt numbers are each store's own) */
  z.object({ store: z.optional(z.string()) }),
);

/** Sales from other channels: JSON lines, streamed (docs/operations.md#imports). */
export const importSales = admin.post(
  '/sales',
  z.object({
    import: z.string(),
    imported: z.number(),
    skippedCount: z.number(),
    skipped: z.array(z.object({ line: z.number(), receipt: z.string(), reason: z.string() })),
    stores: z.array(z.string()),
    channels: z.array(z.string()),
  }),
);
