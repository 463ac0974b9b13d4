import { isTbError, TbCodes, TbError } from '@tillbridge/shared';
import { rateLimited, sourceOf } from '../../auth/gate.js';
import type { Hub } from '../../hub-services.js';
import type { AdminIdentity } from '../../auth/credentials.js';
import type { RequestContext } from '../router.js';

export function need<T>(v: T | undefined, what: string): T {
  if (v === undefined) throw new TbError(TbCodes.NOT_FOUND, `${what} not found`);
  return v;
}

/** Checks the request's admin token; `write` needs the admin role (operators only read). */
export function authorize(hub: Hub, ctx: RequestContext, write: boolean): AdminIdentity {
  let who: AdminIdentity;
  try {
    const m = /^Bearer (.+)$/.exec(ctx.req.headers.authorization ?? '');
    if (!m) throw new TbError(TbCodes.UNAUTHORIZED, 'an admin token is required (Authorization: Bearer tba_…)');
    who = hub.credentials.checkAdminToken(m[1]!);
  } catch (err) {
    // a refused admin token counts against its source like any failed authentication; once the
    // source is blocked its failing requests are answered 429 (a working token is still served)
    if (!isTbError(err, TbCodes.UNAUTHORIZED)) throw err;
    const wait = hub.gate.failed(sourceOf(ctx.req), 'admin API', { path: ctx.req.url?.split('?')[0] });
    throw wait > 0 ? rateLimited('too many failed authentications from this address; try again later', wait) : err;
  }
  if (write && who.role !== 'admin') throw new TbError(TbCodes.FORBIDDEN, `role "${who.role}" may only read`);
  return who;
}

export const actorOf = (who: AdminIdentity): string => `admin:${who.id}`;

export function storeParam(hub: Hub, ctx: RequestContext): string {
  return need(hub.stores.get(ctx.params.store!), `store ${ctx.params.store}`).id;
}

export const SKU = /^[^\s,]{1,64}$/;

export function isStockQty(v: unknown): v is number {
  return typeof v === 'number' && Number.isFinite(v) && v >= 0 && v <= 1e9 && Math.abs(v * 1000 - Math.round(v * 1000)) < 1e-6;
}

/** A change to versioned settings (returns policy, sync settings): `{store?, change, replace?, note?}`. */
export async function settingsChange(hub: Hub, ctx: RequestContext): Promise<{ store: string | undefined; change: unknown; opts: { note?: string; replace?: boolean } }> {
  const body = (await ctx.body()) as { store?: unknown; change?: unknown; replace?: unknown; note?: unknown };
  const store = typeof body.store === 'string' ? body.store : undefined;
  if (store !== undefined) need(hub.stores.get(store), `store ${store}`);
  if (body.note !== undefined && typeof body.note !== 'string') throw new TbError(TbCodes.INVALID, 'note: expected a string');
  const opts: { note?: string; replace?: boolean } = { replace: body.replace === true };
  if (typeof body.note === 'string') opts.note = body.note;
  return { store, change: body.change ?? {}, opts };
}
