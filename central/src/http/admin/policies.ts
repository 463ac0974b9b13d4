import { TbCodes, TbError } from '@tillbridge/shared';
import type { AdminApi } from '../../usecases/index.js';
import type { Router } from '../router.js';
import { actorOf, authorize, need, settingsChange } from './common.js';

/** Returns policies (default and per store, versioned) and the managers who may override. */
export function policyRoutes(router: Router, api: AdminApi): void {
  const q = api.queries;
  router.add('GET', '/v1/admin/policy', (ctx) => {
    authorize(api, ctx, false);
    const store = ctx.query.get('store');
    if (store === null) return { scope: 'default', ...q.policies.defaultPolicy() };
    need(q.stores.get(store), `store ${store}`);
    const p = q.policies.effective(store);
    const held = q.presence.get(store).policyVersion;
    return { scope: store, ...p, agentHolds: held ?? null };
  });

  router.add('GET', '/v1/admin/policy/history', (ctx) => {
    authorize(api, ctx, false);
    const store = ctx.query.get('store') ?? undefined;
    return q.policies.list(store, Number(ctx.query.get('limit') ?? '50') || 50);
  });

  router.add('PUT', '/v1/admin/policy', async (ctx) => {
    const who = authorize(api, ctx, true);
    const { store, change, opts } = await settingsChange(q, ctx);
    const { version, policy } = api.settings.setPolicy(actorOf(who), store, change, opts);
    return { scope: store ?? 'default', version, policy };
  });

  router.add('GET', '/v1/admin/managers', (ctx) => {
    authorize(api, ctx, false);
    return q.managers.list().map((m) => ({ id: m.id, name: m.name, createdAt: m.created_at, revokedAt: m.revoked_at }));
  });

  router.add('PUT', '/v1/admin/managers/:id', async (ctx) => {
    const who = authorize(api, ctx, true);
    const body = (await ctx.body()) as { name?: unknown; code?: unknown };
    if (typeof body.code !== 'string') throw new TbError(TbCodes.INVALID, 'code: expected the manager code (4 to 64 characters)');
    const name = typeof body.name === 'string' ? body.name : ctx.params.id!;
    api.settings.setManager(actorOf(who), ctx.params.id!, name, body.code);
    return { id: ctx.params.id, name };
  }, 4096);

  router.add('DELETE', '/v1/admin/managers/:id', (ctx) => {
    const who = authorize(api, ctx, true);
    const removed = api.settings.removeManager(actorOf(who), ctx.params.id!);
    if (!removed) throw new TbError(TbCodes.NOT_FOUND, `no active manager ${ctx.params.id}`);
    return { id: ctx.params.id, removed: true };
  });
}
