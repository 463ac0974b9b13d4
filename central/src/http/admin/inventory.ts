import { fromMilli, TbCodes, TbError, toMilli } from '@tillbridge/shared';
import type { Hub } from '../../hub-services.js';
import type { Router } from '../router.js';
import { actorOf, authorize, isStockQty, SKU, storeParam } from './common.js';
import { importRequest } from './imports.js';
import { inventoryImport } from './inventory-import.js';

/** Inventory: on hand, reserved for exchanges, available; set and import (audited). */
export function inventoryRoutes(router: Router, hub: Hub): void {
  router.add('GET', '/v1/admin/stores/:store/inventory', (ctx) => {
    authorize(hub, ctx, false);
    const store = storeParam(hub, ctx);
    const sku = ctx.query.get('sku');
    const rows = sku ? [hub.ledger.get(store, sku)].filter((r) => r !== undefined) : hub.ledger.list(store);
    const reserved = hub.returnsRepo.exchangeReservedByStore(store, new Date(hub.clock.now()).toISOString());
    return rows.map((r) => ({ store: r.store, sku: r.sku, onHand: fromMilli(r.onHand), reserved: fromMilli(reserved.get(r.sku) ?? 0), available: fromMilli(r.onHand - (reserved.get(r.sku) ?? 0)) }));
  });

  router.add('PUT', '/v1/admin/stores/:store/inventory/:sku', async (ctx) => {
    const who = authorize(hub, ctx, true);
    const store = storeParam(hub, ctx);
    const sku = ctx.params.sku!;
    if (!SKU.test(sku)) throw new TbError(TbCodes.INVALID, 'sku: expected 1-64 characters without spaces or commas');
    const body = (await ctx.body()) as { qty?: unknown };
    if (!isStockQty(body.qty)) throw new TbError(TbCodes.INVALID, 'qty: expected a quantity of zero or more with at most three decimals');
    const res = hub.storage.tx(() => {
      const delta = hub.ledger.setOnHand(store, sku, toMilli(body.qty as number), `admin:${who.id}`);
      hub.audit.append({ actor: actorOf(who), action: 'inventory.set', outcome: 'set', store, resource: `inventory:${store}/${sku}`, details: { qty: body.qty, delta: fromMilli(delta) } });
      return { store, sku, onHand: body.qty as number, delta: fromMilli(delta) };
    });
    return res;
  });

  // store,sku,qty CSV, streamed: checked whole before anything is applied, then applied in chunks (docs/operations.md#imports)
  router.add('POST', '/v1/admin/inventory/import', (ctx) => {
    const who = authorize(hub, ctx, true);
    return hub.imports.run(inventoryImport(hub), importRequest(ctx, actorOf(who)));
  });
}

