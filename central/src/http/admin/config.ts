import { TbCodes, TbError } from '@tillbridge/shared';
import type { AdminApi } from '../../usecases/index.js';
import type { Router } from '../router.js';
import { actorOf, authorize, need, serveHistory, settingsChange } from './common.js';
import { configHistory, setConfig, showConfig } from '../contract/settings.js';

/** Sync settings set centrally: default and per store, versioned, pushed to agents. */
export function configRoutes(router: Router, api: AdminApi): void {
  const q = api.queries;
  router.serve(showConfig, (ctx) => {
    authorize(api, ctx, false);
    const store = ctx.query.get('store');
    if (store === null) {
      const d = q.syncConfig.defaults();
      return { scope: 'default', version: d.version, settings: d.value };
    }
    need(q.stores.get(store), `store ${store}`);
    const e = q.syncConfig.effective(store);
    return {
      scope: store,
      version: e.version,
      settings: e.value,
      override: e.override ?? null,
      agentRuns: q.presence.get(store).configVersion ?? null,
    };
  });

  serveHistory(router, api, configHistory, (store, limit) => q.syncConfig.list(store, limit));

  router.serve(setConfig, async (ctx) => {
    const who = authorize(api, ctx, true);
    const { store, change, opts } = await settingsChange(q, ctx);
    // offline refund limits live in the returns policy: say where, rather than "unknown key"
    if (change && typeof change === 'object' && 'offline' in change) {
      throw new TbError(
        TbCodes.INVALID,
        `offline: offline refund limits are part of the returns policy; use: tillbridge-hub policy ` +
          `set${store ? ` --store ${store}` : ''} offline.maxRefundPerReturn=5000 (see ` +
          `docs/returns-policy.md)`,
      );
    }
    const { version, settings } = api.settings.setSyncSettings(actorOf(who), store, change, opts);
    return { scope: store ?? 'default', version, settings };
  });
}
