import { Readable } from 'node:stream';
import { fromMilli } from '@tillbridge/shared';
import type { AdminApi } from '../../usecases/index.js';
import type { Router } from '../router.js';
import { actorOf, authorize, need } from './common.js';
import { importRequest } from './imports.js';
import type { HandlerResultOf } from '../contract/route.js';
import { importSales, showSale } from '../contract/sales.js';

/** Sales from every channel. */
export function saleRoutes(router: Router, api: AdminApi): void {
  const q = api.queries;
  // ?store=S: that store's receipt (receipt numbers are each store's own); without it, the only sale under that number
  router.serve(showSale, (ctx) => {
    authorize(api, ctx, false);
    const store = ctx.query.get('store') ?? undefined;
    const sale = need(
      q.sales.named(ctx.params.receipt, store),
      `sale ${ctx.params.receipt}${store !== undefined ? ` of store ${store}` : ''}`,
    );
    const claimed = q.returnsRepo.claimedByLine(sale, new Date(q.clock.now()).toISOString());
    return {
      receipt: sale.receipt,
      store: sale.store,
      register: sale.register,
      channel: sale.channel,
      at: sale.at,
      currency: sale.currency,
      total: sale.total,
      tenders: sale.tenders,
      lines: sale.lines.map((l) => ({
        line: l.line,
        sku: l.sku,
        qty: fromMilli(l.qty),
        unitPrice: l.unitPrice,
        returnedOrReserved: fromMilli(claimed.get(l.line) ?? 0),
        returnable: fromMilli(Math.max(0, l.qty - (claimed.get(l.line) ?? 0))),
      })),
      returns: q.returnsRepo.forSale(sale).map((r) => ({
        authorization: r.authorization,
        store: r.store,
        decision: r.decision,
        status: r.status,
        kind: r.kind,
        exception: r.exception_code,
      })),
    };
  });

  // Sales from other channels (web orders): JSON lines, streamed (or one JSON sale); checked whole before
  // anything is applied, then applied in chunks (docs/operations.md#imports)
  router.serve(importSales, async (ctx) => {
    const who = authorize(api, ctx, true);
    const type = ctx.req.headers['content-type'] ?? '';
    const body =
      type.includes('json') && !type.includes('ndjson')
        ? Readable.from([Buffer.from(`${JSON.stringify(await ctx.body())}\n`)])
        : ctx.req;
    // the import's result is typed by its kind; the contract test holds it to this route's schema
    return api.imports.sales(importRequest(ctx, actorOf(who), body)) as Promise<HandlerResultOf<typeof importSales>>;
  });
}
