import { TbCodes, TbError } from '@tillbridge/shared';
import type { AdminApi } from '../../usecases/index.js';
import type { Router } from '../router.js';
import { STORE_ID } from '../../domain/stores.js';
import { actorOf, authorize } from './common.js';

/** Stores and their API keys. */
export function storeRoutes(router: Router, api: AdminApi): void {
  const q = api.queries;
  router.add('GET', '/v1/admin/stores', (ctx) => {
    authorize(api, ctx, false);
    return q.stores.list().map((s) => ({ id: s.id, name: s.name, createdAt: s.created_at, lastSeenAt: s.last_seen_at, connected: q.presence.get(s.id).connected }));
  });

  router.add('POST', '/v1/admin/stores', async (ctx) => {
    const who = authorize(api, ctx, true);
    const body = (await ctx.body()) as { id?: unknown; name?: unknown };
    if (typeof body.id !== 'string' || !STORE_ID.test(body.id)) throw new TbError(TbCodes.INVALID, 'id: expected a store id of 1-64 letters, digits, ".", "_" or "-"');
    if (body.name !== undefined && (typeof body.name !== 'string' || body.name.length > 200)) throw new TbError(TbCodes.INVALID, 'name: expected a string of at most 200 characters');
    const id = body.id;
    const name = (body.name as string | undefined) ?? id;
    return api.stores.create(actorOf(who), id, name);
  });
}
