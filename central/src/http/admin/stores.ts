import { TbCodes, TbError } from '@tillbridge/shared';
import type { AdminApi } from '../../usecases/index.js';
import type { Router } from '../router.js';
import { STORE_ID } from '../../domain/stores.js';
import { actorOf, authorize } from './common.js';
import { describeAgent } from '../../domain/agent-versions.js';
import type * as z from 'zod/mini';
import { agentView, createStore, listStores, minAgentVersion, setMinAgentVersion } from '../contract/stores.js';

/** What the hub says of a connected agent, in the contract's type (the contract test holds the two together). */
export function agentViewOf(...args: Parameters<typeof describeAgent>): z.input<typeof agentView> | null {
  return describeAgent(...args) as z.input<typeof agentView> | null;
}

/** Stores and their API keys. */
export function storeRoutes(router: Router, api: AdminApi): void {
  const q = api.queries;
  router.serve(listStores, (ctx) => {
    authorize(api, ctx, false);
    const min = q.agentVersions.get();
    const now = q.clock.now();
    return q.stores.list().map((s) => {
      const p = q.presence.get(s.id);
      const agent = p.connected ? agentViewOf(p.agent, min, now) : null;
      const seen = { createdAt: s.created_at, lastSeenAt: s.last_seen_at };
      return { id: s.id, name: s.name, ...seen, connected: p.connected, agent };
    });
  });

  // the lowest agent version wanted: agents below it are flagged in status and stores list (docs/upgrade.md)
  router.serve(minAgentVersion, (ctx) => {
    authorize(api, ctx, false);
    return { minAgentVersion: q.agentVersions.get() };
  });
  router.serve(setMinAgentVersion, async (ctx) => {
    const who = authorize(api, ctx, true);
    const body = (await ctx.body()) as { version?: unknown };
    if (body.version !== null && typeof body.version !== 'string')
      throw new TbError(TbCodes.INVALID, 'version: expected MAJOR.MINOR.PATCH (e.g. 0.2.0), or null to clear it');
    return api.stores.setMinAgentVersion(actorOf(who), body.version);
  });

  router.serve(createStore, async (ctx) => {
    const who = authorize(api, ctx, true);
    const body = (await ctx.body()) as { id?: unknown; name?: unknown };
    if (typeof body.id !== 'string' || !STORE_ID.test(body.id))
      throw new TbError(TbCodes.INVALID, 'id: expected a store id of 1-64 letters, digits, ".", "_" or "-"');
    if (body.name !== undefined && (typeof body.name !== 'string' || body.name.length > 200))
      throw new TbError(TbCodes.INVALID, 'name: expected a string of at most 200 characters');
    const id = body.id;
    const name = body.name ?? id;
    return api.stores.create(actorOf(who), id, name);
  });
}
