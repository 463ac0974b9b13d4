import { TbCodes, TbError } from '@tillbridge/shared';
import type { Hub } from '../../hub-services.js';
import type { Router } from '../router.js';
import { actorOf, authorize, need, settingsChange } from './common.js';

/** Sync settings set centrally: default and per store, versioned, pushed to agents. */
export function configRoutes(router: Router, hub: Hub): void {
  router.add('GET', '/v1/admin/config', (ctx) => {
    authorize(hub, ctx, false);
    const store = ctx.query.get('store');
    if (store === null) {
      const d = hub.syncConfig.defaults();
      return { scope: 'default', version: d.version, settings: d.value };
    }
    need(hub.stores.get(store), `store ${store}`);
    const e = hub.syncConfig.effective(store);
    return { scope: store, version: e.version, settings: e.value, override: e.override ?? null, agentRuns: hub.presence.get(store).configVersion ?? null };
  });

  router.add('GET', '/v1/admin/config/history', (ctx) => {
    authorize(hub, ctx, false);
    return hub.syncConfig.list(ctx.query.get('store') ?? undefined, Number(ctx.query.get('limit') ?? '50') || 50);
  });

  router.add('PUT', '/v1/admin/config', async (ctx) => {
    const who = authorize(hub, ctx, true);
    const { store, change, opts } = await settingsChange(hub, ctx);
    // offline refund limits live in the returns policy: say where, rather than "unknown key"
    if (change && typeof change === 'object' && 'offline' in change) {
      throw new TbError(TbCodes.INVALID, `offline: offline refund limits are part of the returns policy; use: tillbridge-hub policy set${store ? ` --store ${store}` : ''} offline.maxRefundPerReturn=5000 (see docs/returns-policy.md)`);
    }
    const version = hub.syncConfig.set(store, change, actorOf(who), opts);
    return { scope: store ?? 'default', version, settings: store ? hub.syncConfig.effective(store).value : hub.syncConfig.defaults().value };
  });
}
