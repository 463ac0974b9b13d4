import type { ServerResponse } from 'node:http';
import { checkExportTarget, feedDayEntries, poslogDayChunks } from '../../feed/poslog-export.js';
import type { AdminApi } from '../../usecases/index.js';
import type { Router } from '../router.js';
import { authorize, need } from './common.js';

/** Bytes gathered before a write to the socket. */
const FLUSH_AT = 64 * 1024;

/**
 * A store's business day from the ERP feed as an ARTS POSLog document (docs/erp-feed.md, "POSLog export of a business
 * day"):
 * `GET /v1/admin/feed/poslog?store=S&day=YYYY-MM-DD`, application/xml, streamed a feed page at a
 * time. Operator tokens may read it.
 */
export function feedPoslogRoutes(router: Router, api: AdminApi): void {
  const q = api.queries;
  router.add('GET', '/v1/admin/feed/poslog', async (ctx) => {
    authorize(api, ctx, false);
    const { store, day } = checkExportTarget(ctx.query.get('store') ?? undefined, ctx.query.get('day') ?? undefined);
    need(q.stores.get(store), `store ${store}`);
    const chunks = poslogDayChunks(feedDayEntries(q.erpFeed, store, day), {
      store,
      day,
      saleOf: (s, receipt) => {
        const sale = q.sales.named(receipt, s);
        return sale && { currency: sale.currency, lines: sale.lines };
      },
    });
    // the first piece is made before the answer starts: a failure there is still a JSON error
    const first = chunks.next();
    const { res } = ctx;
    res.writeHead(200, {
      'content-type': 'application/xml; charset=utf-8',
      'content-disposition': `attachment; filename="poslog-${store.replace(/[^A-Za-z0-9._-]/g, '_')}-${day}.xml"`,
      'cache-control': 'no-store',
    });
    try {
      let buf = first.done ? '' : first.value;
      for (const c of chunks) {
        buf += c;
        if (buf.length < FLUSH_AT) continue;
        const ok = res.write(buf);
        buf = '';
        if (!ok) await drained(res);
        if (res.destroyed) return;
      }
      res.end(buf);
    } catch (err) {
      // the answer has begun: it cannot become an error answer; cut it short so the client sees it incomplete
      res.destroy(err as Error);
    }
  });
}

/** Resolves when the response may take more, or is gone (the client hung up). */
function drained(res: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
}
