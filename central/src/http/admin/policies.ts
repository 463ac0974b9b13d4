import { TbCodes, TbError } from '@tillbridge/shared';
import type { Hub } from '../../hub-services.js';
import type { Router } from '../router.js';
import { actorOf, authorize, need, settingsChange } from './common.js';

/** Returns policies (default and per store, versioned) and the managers who may override. */
export function policyRoutes(router: Router, hub: Hub): void {
  router.add('GET', '/v1/admin/policy', (ctx) => {
    authorize(hub, ctx, false);
    const store = ctx.query.get('store');
    if (store === null) return { scope: 'default', ...hub.policies.defaultPolicy() };
    need(hub.stores.get(store), `store ${store}`);
    const p = hub.policies.effective(store);
    const held = hub.presence.get(store).policyVersion;
    return { scope: store, ...p, agentHolds: held ?? null };
  });

  router.add('GET', '/v1/admin/policy/history', (ctx) => {
    authorize(hub, ctx, false);
    const store = ctx.query.get('store') ?? undefined;
    return hub.policies.list(store, Number(ctx.query.get('limit') ?? '50') || 50);
  });

  router.add('PUT', '/v1/admin/policy', async (ctx) => {
    const who = authorize(hub, ctx, true);
    const { store, change, opts } = await settingsChange(hub, ctx);
    const version = hub.policies.set(store, change, actorOf(who), opts);
    return { scope: store ?? 'default', version, policy: store ? hub.policies.effective(store).policy : hub.policies.defaultPolicy().policy };
  });

  router.add('GET', '/v1/admin/managers', (ctx) => {
    authorize(hub, ctx, false);
    return hub.managers.list().map((m) => ({ id: m.id, name: m.name, createdAt: m.created_at, revokedAt: m.revoked_at }));
  });

  router.add('PUT', '/v1/admin/managers/:id', async (ctx) => {
    const who = authorize(hub, ctx, true);
    const body = (await ctx.body()) as { name?: unknown; code?: unknown };
    if (typeof body.code !== 'string') throw new TbError(TbCodes.INVALID, 'code: expected the manager code (4 to 64 characters)');
    const name = typeof body.name === 'string' ? body.name : ctx.params.id!;
    hub.storage.tx(() => {
      hub.managers.set(ctx.params.id!, name, body.code as string);
      hub.audit.append({ actor: actorOf(who), action: 'manager.set', outcome: 'set', resource: `manager:${ctx.params.id}`, details: { name } });
    });
    return { id: ctx.params.id, name };
  }, 4096);

  router.add('DELETE', '/v1/admin/managers/:id', (ctx) => {
    const who = authorize(hub, ctx, true);
    const removed = hub.storage.tx(() => {
      const ok = hub.managers.remove(ctx.params.id!);
      if (ok) hub.audit.append({ actor: actorOf(who), action: 'manager.remove', outcome: 'removed', resource: `manager:${ctx.params.id}` });
      return ok;
    });
    if (!removed) throw new TbError(TbCodes.NOT_FOUND, `no active manager ${ctx.params.id}`);
    return { id: ctx.params.id, removed: true };
  });
}
