import * as z from 'zod/mini';
import { admin } from './route.js';

export const showInventory = admin.get(
  '/stores/:store/inventory',
  z.array(
    z.object({ store: z.string(), sku: z.string(), onHand: z.number(), reserved: z.number(), available: z.number() }),
  ),
  z.object({ sku: z.optional(z.string()) }),
);

export const setInventory = admin.put(
  '/stores/:store/inventory/:sku',
  z.object({ store: z.string(), sku: z.string(), onHand: z.number(), delta: z.number() }),
);

/** A CSV of store,sku,qty, streamed (docs/operations.md#imports). */
export const importInventory = admin.post(
  '/inventory/import',
  z.object({ import: z.string(), rows: z.number(), changed: z.number(), stores: z.array(z.string()) }),
);
