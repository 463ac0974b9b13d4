import { TbCodes, TbError } from '@tillbridge/shared';
import { sourceOf } from '../../auth/gate.js';
import type { AdminIdentity } from '../../auth/credentials.js';
import type { AdminApi, AdminQueries } from '../../usecases/index.js';
import type { RequestContext, Router } from '../router.js';
import { parseQuery } from '../contract/route.js';
import type { configHistory, policyHistory } from '../contract/settings.js';
import type * as z from 'zod/mini';

export { isStockQty, SKU } from '../../domain/stock-input.js';

export function need<T>(v: T | undefined, what: string): T {
  if (v === undefined) throw new TbError(TbCodes.NOT_FOUND, `${what} not found`);
  return v;
}

/** Checks the request's admin token; `write` needs the admin role (operators only read). */
export function authorize(api: Pick<AdminApi, 'access'>, ctx: RequestContext, write: boolean): AdminIdentity {
  // a refused token counts against its source; a blocked source is answered 429 (a working token is still served)
  const who = api.access.identify(ctx.req.headers.authorization, sourceOf(ctx.req), ctx.req.url?.split('?')[0]);
  if (write && who.role !== 'admin') throw new TbError(TbCodes.FORBIDDEN, `role "${who.role}" may only read`);
  return who;
}

/** A handler that only reads: any admin token may call it (operators too); then `read` answers. */
export function readOnly<Context extends RequestContext, Answer>(
  api: Pick<AdminApi, 'access'>,
  read: (ctx: Context) => Answer,
): (ctx: Context) => Answer {
  return (ctx) => {
    authorize(api, ctx, false);
    return read(ctx);
  };
}

export const actorOf = (who: AdminIdentity): string => `admin:${who.id}`;

export function storeParam(q: AdminQueries, ctx: RequestContext): string {
  const store = ctx.params.store;
  return need(store === undefined ? undefined : q.stores.get(store), `store ${store ?? '(none)'}`).id;
}

/** A change to versioned settings (returns policy, sync settings): `{store?, change, replace?, note?}`. */
export async function settingsChange(
  q: AdminQueries,
  ctx: RequestContext,
): Promise<{ store: string | undefined; change: unknown; opts: { note?: string; replace?: boolean } }> {
  const body = (await ctx.body()) as { store?: unknown; change?: unknown; replace?: unknown; note?: unknown };
  const store = typeof body.store === 'string' ? body.store : undefined;
  if (store !== undefined) need(q.stores.get(store), `store ${store}`);
  if (body.note !== undefined && typeof body.note !== 'string')
    throw new TbError(TbCodes.INVALID, 'note: expected a string');
  const opts: { note?: string; replace?: boolean } = { replace: body.replace === true };
  if (typeof body.note === 'string') opts.note = body.note;
  return { store, change: body.change ?? {}, opts };
}

/**
 * Serves a settings history (`configHistory`, `policyHistory`) to any admin token: `list` gets the scope asked for (all
 * when none) and at most how many (default 50).
 */
export function serveHistory(
  router: Router,
  api: Pick<AdminApi, 'access'>,
  route: typeof policyHistory | typeof configHistory,
  list: (store: string | undefined, limit: number) => z.input<(typeof policyHistory)['response']>,
): void {
  router.serve(
    route,
    readOnly(api, (ctx) => {
      const { store, limit } = parseQuery(route, ctx.query);
      return list(store, limit !== undefined && limit > 0 ? limit : 50);
    }),
  );
}
