import { TbCodes, TbError } from '@tillbridge/shared';
import type { Hub } from '../../hub-services.js';
import type { Router } from '../router.js';
import { authorize } from './common.js';

/** The audit log: verify, tail, page. */
export function auditRoutes(router: Router, hub: Hub): void {
  router.add('GET', '/v1/admin/audit/verify', (ctx) => {
    authorize(hub, ctx, false);
    return hub.audit.verify();
  });

  router.add('GET', '/v1/admin/audit', (ctx) => {
    authorize(hub, ctx, false);
    const after = Number(ctx.query.get('after') ?? '0');
    const limit = Math.min(Number(ctx.query.get('limit') ?? '100'), 10_000);
    if (!Number.isInteger(after) || !Number.isInteger(limit) || limit < 1) throw new TbError(TbCodes.INVALID, 'after and limit must be integers');
    return ctx.query.has('after') ? hub.audit.after(after, limit) : hub.audit.tail(limit);
  });
}
