import { TbCodes, TbError } from '@tillbridge/shared';
import { adminTokenInput } from '../../auth/credentials.js';
import type { AdminApi } from '../../usecases/index.js';
import type { Router } from '../router.js';
import { actorOf, authorize, storeParam } from './common.js';
import * as contract from '../contract/keys.js';

const DAY = 86_400_000;

function duration(v: unknown, what: string, def: number): number {
  if (v === undefined) return def;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0)
    throw new TbError(TbCodes.INVALID, `${what}: expected milliseconds`);
  return v;
}

/** Store API keys (rotation, schedules, revocation) and admin tokens (roles). Never shows a stored key. */
export function keyRoutes(router: Router, api: AdminApi): void {
  const q = api.queries;
  router.serve(contract.listKeys, (ctx) => {
    authorize(api, ctx, false);
    const store = storeParam(q, ctx);
    return { store, keys: q.credentials.listKeys(store), schedule: q.keys.scheduleOf(store) ?? null };
  });

  router.serve(contract.rotateKey, async (ctx) => {
    const who = authorize(api, ctx, true);
    const store = storeParam(q, ctx);
    const body = (await ctx.body()) as { graceMs?: unknown };
    const r = api.stores.rotateKey(actorOf(who), store, duration(body.graceMs, 'graceMs', DAY));
    return {
      store,
      id: r.id,
      oldKeysExpireAt: r.oldExpireAt,
      apiKey: r.apiKey,
      connected: q.presence.get(store).connected,
    };
  });

  router.serve(contract.revokeKey, (ctx) => {
    const who = authorize(api, ctx, true);
    const store = storeParam(q, ctx);
    api.stores.revokeKey(actorOf(who), store, ctx.params.id);
    return { store, id: ctx.params.id, revoked: true };
  });

  router.serve(contract.scheduleKeys, async (ctx) => {
    const who = authorize(api, ctx, true);
    const store = storeParam(q, ctx);
    const body = (await ctx.body()) as { everyMs?: unknown; graceMs?: unknown; off?: unknown };
    if (body.off === true) return { store, removed: api.stores.unscheduleKeys(actorOf(who), store) };
    return api.stores.scheduleKeys(
      actorOf(who),
      store,
      duration(body.everyMs, 'everyMs', 30 * DAY),
      duration(body.graceMs, 'graceMs', DAY),
    );
  });

  router.serve(contract.listTokens, (ctx) => {
    authorize(api, ctx, false);
    return q.credentials.listAdminTokens();
  });

  router.serve(contract.createToken, async (ctx) => {
    const who = authorize(api, ctx, true);
    const body = (await ctx.body()) as { role?: unknown; name?: unknown };
    const { role, name } = adminTokenInput(body.role, body.name);
    const t = api.tokens.create(actorOf(who), role, name);
    return { id: t.id, role, name, token: t.secret };
  });

  router.serve(contract.revokeToken, (ctx) => {
    const who = authorize(api, ctx, true);
    api.tokens.revoke(actorOf(who), ctx.params.id);
    return { id: ctx.params.id, revoked: true };
  });
}
