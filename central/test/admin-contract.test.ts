import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type * as z from 'zod/mini';
import type { ReturnRow } from '../src/domain/returns-repo.js';
import * as audit from '../src/http/contract/audit.js';
import * as feed from '../src/http/contract/feed.js';
import * as imports from '../src/http/contract/imports.js';
import * as inventory from '../src/http/contract/inventory.js';
import * as keys from '../src/http/contract/keys.js';
import * as reconcile from '../src/http/contract/reconcile.js';
import * as returns from '../src/http/contract/returns.js';
import { routesUnder, routeUrl, type RouteContract } from '../src/http/contract/route.js';
import * as sales from '../src/http/contract/sales.js';
import * as settings from '../src/http/contract/settings.js';
import * as status from '../src/http/contract/status.js';
import * as stores from '../src/http/contract/stores.js';
import * as webhooks from '../src/http/contract/webhooks.js';
import { startAdminServer } from './admin-server.js';
import { seedSale, testHub, wireDayClose } from './helpers.js';

// Every route of the admin API's contract, called over real HTTP on a real hub: each answer must
// parse with the route's schema and lose nothing in parsing (no field the contract does not name).
// A handler and its contract that drift apart fail here. Either backend (TILLBRIDGE_TEST_BACKEND).

const TICKET: ReturnRow = {
  authorization: 'auth-1',
  store: 'S1',
  register: 'R1',
  request_id: 'q-1',
  receipt: 'X1',
  sale_store: 'S1',
  mode: 'offline',
  decision: 'approved',
  status: 'completed',
  reconciliation: 'approved',
  exception_code: null,
  reason: null,
  refund_amount: 1000,
  refund_kind: 'cash',
  created_at: '2026-11-27T10:00:00.000Z',
  expires_at: null,
  completed_at: '2026-11-27T10:05:00.000Z',
  updated_at: '2026-11-27T10:05:00.000Z',
  rules: '[{"code":"WINDOW","detail":"within 30 days"}]',
  allowed_tenders: '["cash"]',
  conditions: '[]',
  gross_refund: 1000,
  fees: 0,
  policy_version: 1,
  kind: 'full',
  override_by: 'm1',
  override_at: '2026-11-27T10:01:00.000Z',
  late_online: 0,
  card_hash: null,
  request: '{"receipt":"X1"}',
  resolution: 'accept',
  resolved_at: '2026-11-27T11:00:00.000Z',
  resolved_by: 'admin:a',
  resolution_note: 'fine',
};

type AnyRoute = RouteContract<string, z.ZodMiniType, z.ZodMiniType>;
const isRoute = (v: unknown): v is AnyRoute => typeof v === 'object' && v !== null && 'method' in v && 'response' in v;
const ROUTES = [
  audit,
  feed,
  imports,
  inventory,
  keys,
  reconcile,
  returns,
  sales,
  settings,
  status,
  stores,
  webhooks,
].flatMap((module) => Object.values(module).filter(isRoute));
const called = new Set<AnyRoute>();

let t: ReturnType<typeof testHub>;
let server: Awaited<ReturnType<typeof startAdminServer>>;

beforeAll(async () => {
  t = testHub();
  seedSale(t.hub, 'S1', 'X1');
  t.hub.exceptions.record({ store: 'S1', kind: 'event', code: 'TB_TEST', reason: 'a refused event for the test' });
  server = await startAdminServer(t.hub);
});

afterAll(async () => {
  await server.close();
  t.cleanup();
});

/** Calls `route` with the admin token and checks its answer against the contract; returns the answer. */
async function check<Route extends AnyRoute>(
  route: Route,
  args: {
    params?: Record<string, string>;
    query?: Record<string, unknown>;
    body?: string | object;
    type?: string;
  } = {},
): Promise<z.output<Route['response']>> {
  called.add(route);
  const body = typeof args.body === 'string' || args.body === undefined ? args.body : JSON.stringify(args.body);
  const headers: Record<string, string> = { authorization: `Bearer ${server.admin}` };
  if (body !== undefined) headers['content-type'] = args.type ?? 'application/json';
  const res = await fetch(`${server.url}${routeUrl(route, args.params as never, args.query)}`, {
    method: route.method,
    headers,
    body,
  });
  const answer = await res.json();
  expect({ route: `${route.method} ${route.path}`, status: res.status }).toEqual({
    route: `${route.method} ${route.path}`,
    status: 200,
  });
  const parsed = route.response.safeParse(answer);
  expect(parsed.error?.issues ?? [], `${route.method} ${route.path}`).toEqual([]);
  expect(parsed.data, `${route.method} ${route.path} answers only what its contract names`).toEqual(answer);
  return parsed.data as z.output<Route['response']>;
}

describe('the admin API against its contract', () => {
  it('stores, agent versions, enrollments', async () => {
    await check(stores.createStore, { body: { id: 'S2', name: 'Second' } });
    await check(stores.listStores);
    await check(stores.setMinAgentVersion, { body: { version: '0.2.0' } });
    await check(stores.minAgentVersion);
    await check(stores.createEnrollment, { params: { store: 'S2' }, body: {} });
    await check(stores.listEnrollments, { query: { store: 'S2' } });
  });

  it('inventory, sales and their imports', async () => {
    await check(inventory.setInventory, { params: { store: 'S1', sku: 'A' }, body: { qty: 5 } });
    await check(inventory.showInventory, { params: { store: 'S1' } });
    const stock = await check(inventory.importInventory, { body: 'store,sku,qty\nS1,B,3\n', type: 'text/csv' });
    await check(imports.listImports);
    expect(await check(imports.showImport, { params: { id: stock.import } })).toMatchObject({ state: 'imported' });
    await check(sales.showSale, { params: { receipt: 'X1' }, query: { store: 'S1' } });
    const sale = {
      store: 'S2',
      channel: 'web',
      receipt: 'W-1',
      at: '2026-11-27T09:00:00Z',
      currency: 'EUR',
      lines: [],
      tenders: [],
    };
    await check(sales.importSales, {
      body: `${JSON.stringify({ ...sale, lines: [{ line: 1, sku: 'A', qty: 1, unitPrice: 500 }] })}\n`,
      type: 'application/x-ndjson',
    });
  });

  it('keys and tokens', async () => {
    await check(keys.rotateKey, { params: { store: 'S1' }, body: { graceMs: 0 } });
    await check(keys.rotateKey, { params: { store: 'S1' }, body: { graceMs: 60_000 } });
    const before = await check(keys.listKeys, { params: { store: 'S1' } });
    await check(keys.revokeKey, { params: { store: 'S1', id: before.keys[0]!.id } });
    await check(keys.scheduleKeys, { params: { store: 'S1' }, body: { everyMs: 7 * 86_400_000, graceMs: 3_600_000 } });
    expect((await check(keys.listKeys, { params: { store: 'S1' } })).schedule).not.toBeNull();
    await check(keys.scheduleKeys, { params: { store: 'S1' }, body: { off: true } });
    await check(keys.createToken, { body: { role: 'operator', name: 'dashboard' } });
    const tokens = await check(keys.listTokens);
    await check(keys.revokeToken, { params: { id: tokens.find((x) => x.role === 'operator')!.id } });
  });

  it('policy, managers, sync settings', async () => {
    await check(settings.setPolicy, { body: { store: 'S1', change: { returnWindowDays: 14 } } });
    await check(settings.showPolicy);
    await check(settings.showPolicy, { query: { store: 'S1' } });
    await check(settings.policyHistory, { query: { store: 'S1' } });
    await check(settings.setManager, { params: { id: 'm1' }, body: { name: 'Mia', code: '246810' } });
    await check(settings.listManagers);
    await check(settings.removeManager, { params: { id: 'm1' } });
    await check(settings.setConfig, { body: { store: 'S1', change: { timeZone: 'Europe/Berlin' } } });
    await check(settings.showConfig);
    await check(settings.showConfig, { query: { store: 'S1' } });
    await check(settings.configHistory);
  });

  it('returns and exceptions', async () => {
    const approved = t.hub.useCases.returns;
    expect(approved).toBeDefined();
    t.hub.returnsRepo.insert(TICKET, [
      {
        line: 1,
        asked_sku: null,
        requested_qty: 1000,
        approved_qty: 1000,
        completed_qty: 0,
        disposition: 'restock',
        code: 'OK',
        reason: null,
      },
    ]);
    const page = await check(returns.listReturns, { query: { limit: 10 } });
    expect(page).toMatchObject({ returns: [{ authorization: 'auth-1', lines: [{ line: 1 }] }], next: null });
    await check(returns.showReturn, { params: { authorization: 'auth-1' } });
    const exceptions = await check(returns.listExceptions, { query: { open: 'true' } });
    await check(returns.resolveException, {
      params: { id: exceptions[0]!.id },
      body: { action: 'accept', note: 'checked' },
    });
    await check(returns.listExceptions);
  });

  it('reconciliation', async () => {
    const close = wireDayClose(1, 'd-R1', {
      currency: 'EUR',
      sales: { count: 2, amount: 900 },
      tenders: [{ kind: 'card', amount: 900 }],
      receipts: ['X1', 'X9'],
    });
    t.hub.applier.applyBatch('S1', 'agent-1', 'i1', [close]);
    const day = await check(reconcile.reconcileDay, { query: { day: '2026-11-27', store: 'S1' } });
    expect(day.registers).toMatchObject([{ register: 'R1', status: expect.stringMatching(/discrepancy|resending/) }]);
  });

  it('status', async () => {
    t.hub.terminals.record('S1', {
      register: 'R1',
      state: 'connected',
      transport: 'tcp://127.0.0.1:9100',
      connections: 1,
      at: '2026-11-27T10:00:00.000Z',
    });
    expect(t.hub.terminals.list('S1')).toHaveLength(1);
    await check(status.hubStatus);
    await check(status.hubStatus, { query: { store: 'S1' } });
  });

  it('webhooks and their deliveries', async () => {
    // the endpoint is never reached: deliveries stay pending (nothing here runs the sender)
    const added = await check(webhooks.addWebhook, {
      body: { url: 'http://127.0.0.1:9/hook', events: ['return.completed'] },
    });
    const params = { id: added.id };
    await check(webhooks.listWebhooks);
    await check(webhooks.showWebhook, { params });
    const sent = await check(webhooks.testWebhook, { params, body: {} });
    await check(webhooks.listDeliveries, { query: { webhook: added.id, limit: 10 } });
    await check(webhooks.showDelivery, { params: { id: sent.delivery } });
    await check(webhooks.redeliver, { params: { id: sent.delivery }, body: {} });
    await check(webhooks.rotateWebhookSecret, { params, body: { overlapMs: 60_000 } });
    await check(webhooks.disableWebhook, { params, body: { reason: 'maintenance' } });
    await check(webhooks.enableWebhook, { params, body: {} });
    await check(webhooks.removeWebhook, { params });
  });

  it('the audit log and its signed checkpoints', async () => {
    await check(audit.verifyAudit);
    const tail = await check(audit.auditTail, { query: { limit: 5 } });
    expect(tail.length).toBeGreaterThan(0);
    await check(audit.auditTail, { query: { after: 0, limit: 2 } });
    const first = await check(audit.auditEntries, { query: { since: '2000-01-01', limit: 2 } });
    expect(first).toMatchObject({ entries: [{ id: 1 }, { id: 2 }], next: 2, estimate: expect.any(Number) });
    await check(audit.auditEntries, { query: { since: '2000-01-01', store: 'S1', after: first.next, limit: 2 } });
    const signed = await check(audit.signCheckpoint);
    await check(audit.latestCheckpoint);
    await check(audit.showCheckpoint, { params: { seq: String(signed.checkpoint.seq) } });
    await check(audit.listCheckpoints, { query: { limit: 5 } });
    await check(audit.auditPublicKey);
  });

  it('the ERP feed and its consumers', async () => {
    const page = await check(feed.readFeed, { query: { after: 0, limit: 50 } });
    expect(page.entries.length).toBeGreaterThan(0);
    await check(feed.ackFeed, { params: { name: 'erp' }, body: { position: page.entries[0]!.position } });
    await check(feed.listFeedConsumers);
    await check(feed.showFeedConsumer, { params: { name: 'erp' } });
    await check(feed.readFeed, { query: { consumer: 'erp', store: 'S1' } });
    await check(feed.removeFeedConsumer, { params: { name: 'erp' } });
  });

  it('covers every route of the contract', () => {
    const missing = ROUTES.filter((route) => !called.has(route)).map((route) => `${route.method} ${route.path}`);
    expect(missing).toEqual([]);
  });
});

describe('routesUnder', () => {
  it('declares a route by method, the rest of its path under the base, its answer and its query', () => {
    const under = routesUnder('/v1/things');
    const answer = webhooks.deliveryView;
    const query = webhooks.listDeliveries.query;
    expect(under.delete('/:id', answer)).toMatchObject({ method: 'DELETE', path: '/v1/things/:id', response: answer });
    expect(under.get('', answer, query)).toEqual({ method: 'GET', path: '/v1/things', response: answer, query });
    expect(under.put('/:id/x', answer).query.safeParse({}).success).toBe(true);
    expect(routeUrl(under.post('/:id/x', answer), { id: 'a b' })).toBe('/v1/things/a%20b/x');
  });
});
