import { isBusinessDay, TbCodes, TbError } from '@tillbridge/shared';
import type { AdminApi } from '../../usecases/index.js';
import type { Router } from '../router.js';
import { authorize, need } from './common.js';
import { reconcileDay } from '../contract/reconcile.js';

/**
 * Registers' business days as the hub reconciled them (docs/reconciliation.md): `?day=YYYY-MM-DD`
 * (required) and `?store=S`. A read: reconciliation runs as day closes and events are applied.
 */
export function reconcileRoutes(router: Router, api: AdminApi): void {
  const q = api.queries;
  router.serve(reconcileDay, (ctx) => {
    authorize(api, ctx, false);
    const day = ctx.query.get('day');
    if (day === null || !isBusinessDay(day))
      throw new TbError(
        TbCodes.INVALID,
        `day: expected a business day YYYY-MM-DD${day !== null ? `, got "${day}"` : ''}`,
      );
    const store = ctx.query.get('store') ?? undefined;
    if (store !== undefined) need(q.stores.get(store), `store ${store}`);
    const registers = q.registerDays.list(day, store);
    const count = (status: string): number => registers.filter((r) => r.status === status).length;
    return {
      day,
      store: store ?? null,
      summary: {
        registers: registers.length,
        matched: count('matched'),
        resending: count('resending'),
        discrepancy: count('discrepancy'),
      },
      registers,
    };
  });
}
