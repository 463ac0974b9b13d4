import { parse as parseCsv } from 'csv-parse/sync';
import { fromMilli, TbCodes, TbError, toMilli } from '@tillbridge/shared';
import type { Hub } from '../hub-services.js';
import type { AdminIdentity } from '../auth/credentials.js';
import { STORE_ID } from '../domain/stores.js';
import type { RequestContext, Router } from './router.js';

const SKU = /^[^\s,]{1,64}$/;

function isStockQty(v: unknown): v is number {
  return typeof v === 'number' && Number.isFinite(v) && v >= 0 && v <= 1e9 && Math.abs(v * 1000 - Math.round(v * 1000)) < 1e-6;
}

function need<T>(v: T | undefined, what: string): T {
  if (v === undefined) throw new TbError(TbCodes.NOT_FOUND, `${what} not found`);
  return v;
}

/**
 * The JSON admin API under /v1/admin, used by `tillbridge-hub`. Every request carries an admin
 * token; `operator` tokens may only read. Every change is audited with the token's identity.
 */
export function adminRoutes(router: Router, hub: Hub): void {
  const auth = (ctx: RequestContext, write: boolean): AdminIdentity => {
    const m = /^Bearer (.+)$/.exec(ctx.req.headers.authorization ?? '');
    if (!m) throw new TbError(TbCodes.UNAUTHORIZED, 'an admin token is required (Authorization: Bearer tba_…)');
    const who = hub.credentials.checkAdminToken(m[1]!);
    if (write && who.role !== 'admin') throw new TbError(TbCodes.FORBIDDEN, `role "${who.role}" may only read`);
    return who;
  };
  const actor = (who: AdminIdentity): string => `admin:${who.id}`;
  const storeParam = (ctx: RequestContext): string => need(hub.stores.get(ctx.params.store!), `store ${ctx.params.store}`).id;

  router.add('GET', '/v1/admin/stores', (ctx) => {
    auth(ctx, false);
    return hub.stores.list().map((s) => ({ id: s.id, name: s.name, createdAt: s.created_at, lastSeenAt: s.last_seen_at, connected: hub.presence.get(s.id).connected }));
  });

  router.add('POST', '/v1/admin/stores', async (ctx) => {
    const who = auth(ctx, true);
    const body = (await ctx.body()) as { id?: unknown; name?: unknown };
    if (typeof body.id !== 'string' || !STORE_ID.test(body.id)) throw new TbError(TbCodes.INVALID, 'id: expected a store id of 1-64 letters, digits, ".", "_" or "-"');
    if (body.name !== undefined && (typeof body.name !== 'string' || body.name.length > 200)) throw new TbError(TbCodes.INVALID, 'name: expected a string of at most 200 characters');
    const id = body.id;
    const name = (body.name as string | undefined) ?? id;
    return hub.storage.tx(() => {
      if (hub.stores.get(id)) throw new TbError(TbCodes.CONFLICT, `store ${id} already exists`);
      hub.stores.create(id, name);
      const apiKey = hub.credentials.createApiKey(id);
      hub.audit.append({ actor: actor(who), action: 'store.create', outcome: 'created', store: id, resource: `store:${id}`, details: { name } });
      return { store: id, name, apiKey };
    });
  });

  router.add('GET', '/v1/admin/stores/:store/inventory', (ctx) => {
    auth(ctx, false);
    const store = storeParam(ctx);
    const sku = ctx.query.get('sku');
    const rows = sku ? [hub.ledger.get(store, sku)].filter((r) => r !== undefined) : hub.ledger.list(store);
    return rows.map((r) => ({ store: r.store, sku: r.sku, onHand: fromMilli(r.onHand) }));
  });

  router.add('PUT', '/v1/admin/stores/:store/inventory/:sku', async (ctx) => {
    const who = auth(ctx, true);
    const store = storeParam(ctx);
    const sku = ctx.params.sku!;
    if (!SKU.test(sku)) throw new TbError(TbCodes.INVALID, 'sku: expected 1-64 characters without spaces or commas');
    const body = (await ctx.body()) as { qty?: unknown };
    if (!isStockQty(body.qty)) throw new TbError(TbCodes.INVALID, 'qty: expected a quantity of zero or more with at most three decimals');
    const res = hub.storage.tx(() => {
      const delta = hub.ledger.setOnHand(store, sku, toMilli(body.qty as number), `admin:${who.id}`);
      hub.audit.append({ actor: actor(who), action: 'inventory.set', outcome: 'set', store, resource: `inventory:${store}/${sku}`, details: { qty: body.qty, delta: fromMilli(delta) } });
      return { store, sku, onHand: body.qty as number, delta: fromMilli(delta) };
    });
    hub.feed.publish();
    return res;
  });

  router.add(
    'POST',
    '/v1/admin/inventory/import',
    async (ctx) => {
      const who = auth(ctx, true);
      const text = await ctx.text();
      const rows = parseInventoryCsv(text, (s) => hub.stores.get(s) !== undefined);
      const res = hub.storage.tx(() => {
        let changed = 0;
        for (const r of rows) if (hub.ledger.setOnHand(r.store, r.sku, toMilli(r.qty), `import:${who.id}`) !== 0) changed++;
        const stores = [...new Set(rows.map((r) => r.store))];
        hub.audit.append({ actor: actor(who), action: 'inventory.import', outcome: 'imported', resource: 'inventory', details: { rows: rows.length, changed, stores } });
        return { rows: rows.length, changed, stores };
      });
      hub.feed.publish();
      return res;
    },
    256 * 1024 * 1024,
  );

  router.add('GET', '/v1/admin/sales/:receipt', (ctx) => {
    auth(ctx, false);
    const sale = need(hub.sales.get(ctx.params.receipt!), `sale ${ctx.params.receipt}`);
    const claimed = hub.returnsRepo.claimedByLine(sale.receipt, new Date(hub.clock.now()).toISOString());
    return {
      receipt: sale.receipt,
      store: sale.store,
      register: sale.register,
      channel: sale.channel,
      at: sale.at,
      currency: sale.currency,
      total: sale.total,
      tenders: sale.tenders,
      lines: sale.lines.map((l) => ({
        line: l.line,
        sku: l.sku,
        qty: fromMilli(l.qty),
        unitPrice: l.unitPrice,
        returnedOrReserved: fromMilli(claimed.get(l.line) ?? 0),
        returnable: fromMilli(l.qty - (claimed.get(l.line) ?? 0)),
      })),
      returns: hub.returnsRepo.list().filter((r) => r.receipt === sale.receipt).map((r) => ({ authorization: r.authorization, store: r.store, status: r.status, exception: r.exception_code })),
    };
  });

  router.add('GET', '/v1/admin/returns', (ctx) => {
    auth(ctx, false);
    const store = ctx.query.get('store') ?? undefined;
    return hub.returnsRepo.list(store).map((r) => ({
      authorization: r.authorization,
      store: r.store,
      register: r.register,
      receipt: r.receipt,
      mode: r.mode,
      decision: r.decision,
      status: r.status,
      exception: r.exception_code,
      reconciliation: r.reconciliation,
      reason: r.reason,
      refund: r.refund_amount,
      createdAt: r.created_at,
      completedAt: r.completed_at,
      lines: hub.returnsRepo.lines(r.authorization).map((l) => ({
        line: l.line,
        requested: fromMilli(l.requested_qty),
        approved: fromMilli(l.approved_qty),
        completed: fromMilli(l.completed_qty),
        disposition: l.disposition,
        code: l.code,
      })),
    }));
  });

  router.add('GET', '/v1/admin/exceptions', (ctx) => {
    auth(ctx, false);
    return hub.exceptions.forStore(ctx.query.get('store') ?? undefined).map((e) => ({
      id: e.id,
      store: e.store,
      register: e.register,
      kind: e.kind,
      code: e.code,
      reason: e.reason,
      authorization: e.authorization,
      eventId: e.event_id,
      createdAt: e.created_at,
      resolvedAt: e.resolved_at,
    }));
  });

  router.add('GET', '/v1/admin/status', (ctx) => {
    auth(ctx, false);
    const now = hub.clock.now();
    const only = ctx.query.get('store');
    if (only && !hub.stores.get(only)) throw new TbError(TbCodes.NOT_FOUND, `store ${only} not found`);
    return {
      now: new Date(now).toISOString(),
      connectedStores: hub.presence.count(),
      stores: hub.stores.list().filter((s) => !only || s.id === only).map((s) => {
        const p = hub.presence.get(s.id);
        const c = hub.cursors.latestForStore(s.id);
        return {
          store: s.id,
          name: s.name,
          connected: p.connected,
          since: p.since ? new Date(p.since).toISOString() : null,
          lastSeen: p.connected ? new Date(p.lastFrameMs ?? now).toISOString() : s.last_seen_at,
          lagMs: p.connected ? (p.oldestAgeMs ?? 0) : null,
          outboxDepth: p.connected ? (p.outboxDepth ?? null) : null,
          lastSeq: c?.lastSeq ?? 0,
          agentId: c?.agentId ?? null,
          registers: p.connected ? (p.registers ?? []) : [],
          terminals: hub.terminals.list(s.id).map((t) => ({
            register: t.register,
            state: t.state,
            detail: t.detail,
            transport: t.transport,
            connections: t.connections,
            reported: t.reported_state ? { state: t.reported_state, detail: t.reported_detail, at: t.reported_at } : null,
            lastMessageAt: t.last_message_at,
            at: t.at,
          })),
        };
      }),
    };
  });

  router.add('GET', '/v1/admin/audit/verify', (ctx) => {
    auth(ctx, false);
    return hub.audit.verify();
  });

  router.add('GET', '/v1/admin/audit', (ctx) => {
    auth(ctx, false);
    const after = Number(ctx.query.get('after') ?? '0');
    const limit = Math.min(Number(ctx.query.get('limit') ?? '100'), 10_000);
    if (!Number.isInteger(after) || !Number.isInteger(limit) || limit < 1) throw new TbError(TbCodes.INVALID, 'after and limit must be integers');
    return ctx.query.has('after') ? hub.audit.after(after, limit) : hub.audit.tail(limit);
  });
}

export interface InventoryCsvRow {
  store: string;
  sku: string;
  qty: number;
}

/** Parses `store,sku,qty` CSV; throws TB_INVALID naming the first bad row and column. Nothing is applied on error. */
export function parseInventoryCsv(text: string, storeExists: (s: string) => boolean): InventoryCsvRow[] {
  let records: Record<string, string>[];
  try {
    records = parseCsv(text, { columns: (h: string[]) => h.map((c) => c.trim().toLowerCase()), bom: true, skip_empty_lines: true, trim: true }) as Record<string, string>[];
  } catch (err) {
    throw new TbError(TbCodes.INVALID, `not valid CSV: ${(err as Error).message}`);
  }
  const out: InventoryCsvRow[] = [];
  records.forEach((r, i) => {
    const row = i + 2; // line 1 is the header
    for (const col of ['store', 'sku', 'qty']) {
      if (r[col] === undefined) throw new TbError(TbCodes.INVALID, `the header must name the columns store,sku,qty (missing "${col}")`);
    }
    if (!storeExists(r.store!)) throw new TbError(TbCodes.INVALID, `row ${row}, column store: no store "${r.store}" (add it with: tillbridge-hub stores add ${r.store})`);
    if (!SKU.test(r.sku!)) throw new TbError(TbCodes.INVALID, `row ${row}, column sku: expected 1-64 characters without spaces`);
    const qty = Number(r.qty);
    if (r.qty === '' || !isStockQty(qty)) {
      throw new TbError(TbCodes.INVALID, `row ${row}, column qty: expected a quantity of zero or more with at most three decimals`);
    }
    out.push({ store: r.store!, sku: r.sku!, qty });
  });
  return out;
}
