import { TbCodes, TbError } from '@tillbridge/shared';
import type { AdminApi } from '../../usecases/index.js';
import type { Router } from '../router.js';
import { actorOf, authorize, need, serveHistory, settingsChange } from './common.js';
import { listManagers, policyHistory, removeManager, setManager, setPolicy, showPolicy } from '../contract/settings.js';

/** Returns policies (default and per store, versioned) and the managers who may override. */
export function policyRoutes(router: Router, api: AdminApi): void {
  const q = api.queries;
  router.serve(showPolicy, (ctx) => {
    authorize(api, ctx, false);
    const store = ctx.query.get('store');
    if (store === null) return { scope: 'default', ...q.policies.defaultPolicy() };
    need(q.stores.get(store), `store ${store}`);
    const p = q.policies.effective(store);
    const held = q.presence.get(store).policyVersion;
    return { scope: store, ...p, agentHolds: held ?? null };
  });

  serveHistory(router, api, policyHistory, (store, limit) => q.policies.list(store, limit));

  router.serve(setPolicy, async (ctx) => {
    const who = authorize(api, ctx, true);
    const { store, change, opts } = await settingsChange(q, ctx);
    const { version, policy } = api.settings.setPolicy(actorOf(who), store, change, opts);
    return { scope: store ?? 'default', version, policy };
  });

  router.serve(listManagers, (ctx) => {
    authorize(api, ctx, false);
    return q.managers.list().map((m) => ({ id: m.id, name: m.name, createdAt: m.created_at, revokedAt: m.revoked_at }));
  });

  router.serve(
    setManager,
    async (ctx) => {
      const who = authorize(api, ctx, true);
      const body = (await ctx.body()) as { name?: unknown; code?: unknown };
      if (typeof body.code !== 'string')
        throw new TbError(TbCodes.INVALID, 'code: expected the manager code (4 to 64 characters)');
      const name = typeof body.name === 'string' ? body.name : ctx.params.id;
      api.settings.setManager(actorOf(who), ctx.params.id, name, body.code);
      return { id: ctx.params.id, name };
    },
    4096,
  );

  router.serve(removeManager, (ctx) => {
    const who = authorize(api, ctx, true);
    const removed = api.settings.removeManager(actorOf(who), ctx.params.id);
    if (!removed) throw new TbError(TbCodes.NOT_FOUND, `no active manager ${ctx.params.id}`);
    return { id: ctx.params.id, removed: true };
  });
}
