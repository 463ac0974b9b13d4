import { parse as parseCsv } from 'csv-parse/sync';
import { fromMilli, TbCodes, TbError, toMilli } from '@tillbridge/shared';
import type { Hub } from '../../hub-services.js';
import type { Router } from '../router.js';
import { actorOf, authorize, isStockQty, SKU, storeParam } from './common.js';

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
    hub.feed.publish();
    return res;
  });

  router.add(
    'POST',
    '/v1/admin/inventory/import',
    async (ctx) => {
      const who = authorize(hub, ctx, true);
      const text = await ctx.text();
      const rows = parseInventoryCsv(text, (s) => hub.stores.get(s) !== undefined);
      const res = hub.storage.tx(() => {
        let changed = 0;
        for (const r of rows) if (hub.ledger.setOnHand(r.store, r.sku, toMilli(r.qty), `import:${who.id}`) !== 0) changed++;
        const stores = [...new Set(rows.map((r) => r.store))];
        hub.audit.append({ actor: actorOf(who), action: 'inventory.import', outcome: 'imported', resource: 'inventory', details: { rows: rows.length, changed, stores } });
        return { rows: rows.length, changed, stores };
      });
      hub.feed.publish();
      return res;
    },
    256 * 1024 * 1024,
  );
}

export interface InventoryCsvRow {
  store: string;
  sku: string;
  qty: number;
}

/** Parses `store,sku,qty` CSV; throws TB_INVALID naming the first bad row and column. Nothing is applied on error. */
export function parseInventoryCsv(text: string, storeExists: (s: string) => boolean): InventoryCsvRow[] {
  let records: Record<string, string>[];
  try {
    records = parseCsv(text, { columns: (h: string[]) => h.map((c) => c.trim().toLowerCase()), bom: true, skip_empty_lines: true, trim: true }) as Record<string, string>[];
  } catch (err) {
    throw new TbError(TbCodes.INVALID, `not valid CSV: ${(err as Error).message}`);
  }
  const out: InventoryCsvRow[] = [];
  const known = new Map<string, boolean>();
  const exists = (s: string): boolean => {
    let k = known.get(s);
    if (k === undefined) known.set(s, (k = storeExists(s)));
    return k;
  };
  records.forEach((r, i) => {
    const row = i + 2; // line 1 is the header
    for (const col of ['store', 'sku', 'qty']) {
      if (r[col] === undefined) throw new TbError(TbCodes.INVALID, `the header must name the columns store,sku,qty (missing "${col}")`);
    }
    if (!exists(r.store!)) throw new TbError(TbCodes.INVALID, `row ${row}, column store: no store "${r.store}" (add it with: tillbridge-hub stores add ${r.store})`);
    if (!SKU.test(r.sku!)) throw new TbError(TbCodes.INVALID, `row ${row}, column sku: expected 1-64 characters without spaces`);
    const qty = Number(r.qty);
    if (r.qty === '' || !isStockQty(qty)) {
      throw new TbError(TbCodes.INVALID, `row ${row}, column qty: expected a quantity of zero or more with at most three decimals`);
    }
    out.push({ store: r.store!, sku: r.sku!, qty });
  });
  return out;
}
