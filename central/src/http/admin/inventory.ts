import { fromMilli, TbCodes, TbError } from '@tillbridge/shared';
import type { AdminApi } from '../../usecases/index.js';
import type { Router } from '../router.js';
import { actorOf, authorize, isStockQty, SKU, storeParam } from './common.js';
import { importRequest } from './imports.js';
import type { HandlerResultOf } from '../contract/route.js';
import { importInventory, setInventory, showInventory } from '../contract/inventory.js';

/** Inventory: on hand, reserved for exchanges, available; set and import (audited). */
export function inventoryRoutes(router: Router, api: AdminApi): void {
  const q = api.queries;
  router.serve(showInventory, (ctx) => {
    authorize(api, ctx, false);
    const store = storeParam(q, ctx);
    const sku = ctx.query.get('sku');
    const rows = sku ? [q.ledger.get(store, sku)].filter((r) => r !== undefined) : q.ledger.list(store);
    const reserved = q.returnsRepo.exchangeReservedByStore(store, new Date(q.clock.now()).toISOString());
    return rows.map((r) => ({
      store: r.store,
      sku: r.sku,
      onHand: fromMilli(r.onHand),
      reserved: fromMilli(reserved.get(r.sku) ?? 0),
      available: fromMilli(r.onHand - (reserved.get(r.sku) ?? 0)),
    }));
  });

  router.serve(setInventory, async (ctx) => {
    const who = authorize(api, ctx, true);
    const store = storeParam(q, ctx);
    const sku = ctx.params.sku;
    if (!SKU.test(sku)) throw new TbError(TbCodes.INVALID, 'sku: expected 1-64 characters without spaces or commas');
    const body = (await ctx.body()) as { qty?: unknown };
    if (!isStockQty(body.qty))
      throw new TbError(TbCodes.INVALID, 'qty: expected a quantity of zero or more with at most three decimals');
    return api.inventory.setOnHand(actorOf(who), store, sku, body.qty);
  });

  // store,sku,qty CSV, streamed: checked whole before anything is applied, then applied in chunks
  // (docs/operations.md#imports)
  router.serve(importInventory, (ctx) => {
    const who = authorize(api, ctx, true);
    // the import's result is typed by its kind; the contract test holds it to this route's schema
    return api.imports.inventory(importRequest(ctx, actorOf(who))) as Promise<HandlerResultOf<typeof importInventory>>;
  });
}
