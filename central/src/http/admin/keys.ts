import { TbCodes, TbError } from '@tillbridge/shared';
import { adminTokenInput } from '../../auth/credentials.js';
import type { Hub } from '../../hub-services.js';
import type { Router } from '../router.js';
import { actorOf, authorize, storeParam } from './common.js';

const DAY = 86_400_000;

function duration(v: unknown, what: string, def: number): number {
  if (v === undefined) return def;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) throw new TbError(TbCodes.INVALID, `${what}: expected milliseconds`);
  return v;
}

/** Store API keys (rotation, schedules, revocation) and admin tokens (roles). Never shows a stored key. */
export function keyRoutes(router: Router, hub: Hub): void {
  router.add('GET', '/v1/admin/stores/:store/keys', (ctx) => {
    authorize(hub, ctx, false);
    const store = storeParam(hub, ctx);
    return { store, keys: hub.credentials.listKeys(store), schedule: hub.keys.scheduleOf(store) ?? null };
  });

  router.add('POST', '/v1/admin/stores/:store/keys/rotate', async (ctx) => {
    const who = authorize(hub, ctx, true);
    const store = storeParam(hub, ctx);
    const body = (await ctx.body()) as { graceMs?: unknown };
    const r = hub.keys.rotate(store, duration(body.graceMs, 'graceMs', DAY), actorOf(who));
    const pending = hub.credentials.pendingKey(store);
    return { store, id: r.id, oldKeysExpireAt: r.oldExpireAt, apiKey: pending?.id === r.id ? pending.secret : undefined, connected: hub.presence.get(store).connected };
  });

  router.add('POST', '/v1/admin/stores/:store/keys/:id/revoke', (ctx) => {
    const who = authorize(hub, ctx, true);
    const store = storeParam(hub, ctx);
    hub.keys.revoke(store, ctx.params.id!, actorOf(who));
    return { store, id: ctx.params.id, revoked: true };
  });

  router.add('PUT', '/v1/admin/stores/:store/keys/schedule', async (ctx) => {
    const who = authorize(hub, ctx, true);
    const store = storeParam(hub, ctx);
    const body = (await ctx.body()) as { everyMs?: unknown; graceMs?: unknown; off?: unknown };
    if (body.off === true) return { store, removed: hub.keys.unschedule(store, actorOf(who)) };
    return hub.keys.schedule(store, duration(body.everyMs, 'everyMs', 30 * DAY), duration(body.graceMs, 'graceMs', DAY), actorOf(who));
  });

  router.add('GET', '/v1/admin/tokens', (ctx) => {
    authorize(hub, ctx, false);
    return hub.credentials.listAdminTokens();
  });

  router.add('POST', '/v1/admin/tokens', async (ctx) => {
    const who = authorize(hub, ctx, true);
    const body = (await ctx.body()) as { role?: unknown; name?: unknown };
    const { role, name } = adminTokenInput(body.role, body.name);
    const t = hub.storage.tx(() => {
      const created = hub.credentials.createAdminToken(role, name);
      hub.audit.append({ actor: actorOf(who), action: 'token.create', outcome: 'created', resource: `admin-token:${created.id}`, details: { role, name } });
      return created;
    });
    return { id: t.id, role, name, token: t.secret };
  });

  router.add('POST', '/v1/admin/tokens/:id/revoke', (ctx) => {
    const who = authorize(hub, ctx, true);
    hub.storage.tx(() => {
      hub.credentials.revokeAdminToken(ctx.params.id!);
      hub.audit.append({ actor: actorOf(who), action: 'token.revoke', outcome: 'revoked', resource: `admin-token:${ctx.params.id}` });
    });
    return { id: ctx.params.id, revoked: true };
  });
}
