import { TbCodes, TbError } from '@tillbridge/shared';
import type { AdminApi } from '../../usecases/index.js';
import type { Router } from '../router.js';
import { actorOf, authorize, need } from './common.js';
import * as contract from '../contract/webhooks.js';

const DAY = 86_400_000;

/**
 * Webhook endpoints and their deliveries under /v1/admin/webhooks. GET reads (any admin token);
 * every change needs the admin role and is audited with the token's identity. Never shows a
 * stored secret: a secret is shown once, in the answer that created it.
 */
export function webhookRoutes(router: Router, api: AdminApi): void {
  const q = api.queries;
  const wh = q.webhooks;
  const change = api.webhooks;

  router.serve(contract.listWebhooks, (ctx) => {
    authorize(api, ctx, false);
    return wh.list();
  });

  router.serve(
    contract.addWebhook,
    async (ctx) => {
      const who = authorize(api, ctx, true);
      const body = (await ctx.body()) as { url?: unknown; events?: unknown; store?: unknown };
      if (body.store !== undefined && body.store !== null)
        need(
          typeof body.store === 'string' ? q.stores.get(body.store) : undefined,
          `store ${typeof body.store === 'string' ? body.store : JSON.stringify(body.store)}`,
        );
      return change.add(actorOf(who), { url: body.url, events: body.events, store: body.store ?? null });
    },
    16 * 1024,
  );

  // before /webhooks/:id, which would take "deliveries" for an id
  router.serve(contract.listDeliveries, (ctx) => {
    authorize(api, ctx, false);
    const limit = Number(ctx.query.get('limit') ?? '100');
    const failed = ctx.query.get('failed');
    return wh.deliveries({ webhook: ctx.query.get('webhook'), failed: failed === '1' || failed === 'true', limit });
  });

  router.serve(contract.showDelivery, (ctx) => {
    authorize(api, ctx, false);
    return wh.delivery(ctx.params.id);
  });

  router.serve(contract.redeliver, (ctx) => {
    const who = authorize(api, ctx, true);
    return change.redeliver(actorOf(who), ctx.params.id);
  });

  router.serve(contract.showWebhook, (ctx) => {
    authorize(api, ctx, false);
    return wh.get(ctx.params.id);
  });

  router.serve(contract.removeWebhook, (ctx) => {
    const who = authorize(api, ctx, true);
    change.remove(actorOf(who), ctx.params.id);
    return { id: ctx.params.id, removed: true };
  });

  router.serve(contract.testWebhook, (ctx) => {
    const who = authorize(api, ctx, true);
    return { id: ctx.params.id, ...change.test(actorOf(who), ctx.params.id) };
  });

  router.serve(contract.rotateWebhookSecret, async (ctx) => {
    const who = authorize(api, ctx, true);
    const body = (await ctx.body()) as { overlapMs?: unknown };
    const overlap = body.overlapMs ?? DAY;
    if (typeof overlap !== 'number') throw new TbError(TbCodes.INVALID, 'overlapMs: expected milliseconds');
    return change.rotateSecret(actorOf(who), ctx.params.id, overlap);
  });

  router.serve(contract.enableWebhook, (ctx) => {
    const who = authorize(api, ctx, true);
    return { id: ctx.params.id, changed: change.enable(actorOf(who), ctx.params.id), state: 'enabled' as const };
  });

  router.serve(contract.disableWebhook, async (ctx) => {
    const who = authorize(api, ctx, true);
    const body = (await ctx.body()) as { reason?: unknown };
    if (body.reason !== undefined && (typeof body.reason !== 'string' || body.reason.length > 200))
      throw new TbError(TbCodes.INVALID, 'reason: expected text of at most 200 characters');
    const reason = `disabled by ${actorOf(who)}${body.reason ? `: ${body.reason}` : ''}`;
    const changed = change.disable(actorOf(who), ctx.params.id, reason);
    return { id: ctx.params.id, changed, state: 'disabled' as const };
  });
}
