import type { IncomingHttpHeaders } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Webhook } from 'standardwebhooks';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initHub, startHub } from '../src/hub.js';
import { loadSecrets } from '../src/auth/secrets.js';
import { AdminClient } from '../src/cli/admin-client.js';
import { webhookCommands } from '../src/cli/commands/webhooks.js';
import { webhookRoutes } from '../src/http/admin/webhooks.js';
import { serveOnLoopback, withBody, type LoopbackServer } from '../../test/support/http-server.js';
import { addWebhook, listDeliveries, testWebhook } from '../src/http/contract/webhooks.js';
import type { Hub } from '../src/hub-services.js';
import { Router } from '../src/http/router.js';
import { wireUseCases } from '../src/usecases/index.js';
import { Webhooks, type DeliveryView, type EndpointView } from '../src/webhooks/webhooks.js';
import { silent, testHub } from './helpers.js';
import { runCli } from './cli-run.js';

// The CLI commands, in-process, through the admin API on a real HTTP server, to a real receiver.

let t: ReturnType<typeof testHub>;
let hub: Hub;
let api: LoopbackServer;
let apiUrl: string;
let admin: string;
let operator: string;
let rx: LoopbackServer;
let rxUrl: string;
const got: { headers: IncomingHttpHeaders; body: string }[] = [];
let status = 200;

beforeAll(async () => {
  t = testHub();
  t.clock.t = Date.now(); // standardwebhooks checks webhook-timestamp against the real time
  t.hub.stores.create('S1', 'Main Street');
  const webhooks = new Webhooks({
    storage: t.hub.storage,
    audit: t.hub.audit,
    clock: t.clock,
    log: silent,
    sealKey: loadSecrets(t.dir).webhookKey, // as openHub seals webhook secrets
    random: () => 0.5,
  });
  // its own instance, with a fixed jitter: retry times are exact
  hub = Object.assign(t.hub, { webhooks });
  admin = t.hub.credentials.createAdminToken('admin', 'ops lead').secret;
  operator = t.hub.credentials.createAdminToken('operator', 'night shift').secret;
  const router = new Router();
  // the admin API's use cases wired to that instance, as openHub wires them
  const { queries, ...useCases } = wireUseCases(hub);
  webhookRoutes(router, { ...useCases, queries });
  api = await serveOnLoopback((req, res) => void router.handle(req, res));
  apiUrl = api.url;
  rx = await serveOnLoopback(
    withBody((req, body, res) => {
      got.push({ headers: req.headers, body });
      res.writeHead(status).end();
    }),
  );
  rxUrl = `${rx.url}/hooks/tillbridge`;
});

afterAll(async () => {
  await api.close();
  await rx.close();
  t.cleanup();
});

/** Runs `tillbridge-hub webhooks …` as the CLI does; returns what it printed and its exit code. */
const cli = (token: string, ...args: string[]) =>
  runCli((ctx) => webhookCommands(ctx), apiUrl, token, ['webhooks', ...args]);

const json = async <T>(token: string, ...args: string[]): Promise<T> => {
  const r = await cli(token, ...args, '--json');
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  return JSON.parse(r.stdout) as T;
};

const h = (i: number): Record<string, string> => got[i]!.headers as Record<string, string>;

describe('tillbridge-hub webhooks, through the admin API', () => {
  let id: string;
  let secret: string;
  let tokenId: string;

  it('add prints the secret once; list never shows it', async () => {
    tokenId = t.hub.credentials.checkAdminToken(admin).id;
    const r = await json<{ id: string; secret: string; url: string; events: string[]; store: string }>(
      admin,
      'add',
      rxUrl,
      '--events',
      'return.completed,return.exception',
      '--store',
      'S1',
    );
    expect(r).toMatchObject({ url: rxUrl, events: ['return.completed', 'return.exception'], store: 'S1' });
    expect(r.id).toMatch(/^wh_[0-9a-z]{10}$/);
    expect(r.secret).toMatch(/^whsec_/);
    ({ id, secret } = r);

    const list = await cli(operator, 'list', '--json');
    expect(list.code).toBe(0);
    expect(list.stdout).not.toContain(secret.slice(6));
    const views = JSON.parse(list.stdout) as EndpointView[];
    expect(views).toHaveLength(1);
    expect(views[0]).toMatchObject({
      id,
      url: rxUrl,
      store: 'S1',
      state: 'enabled',
      disabledReason: null,
      lastSuccessAt: null,
      lastFailureAt: null,
      openDeliveries: 0,
    });
    const human = await cli(operator, 'list');
    expect(human.stdout).toMatch(
      new RegExp(
        `^${id}\\s+${rxUrl.replace(/[.]/g, '\\.')}\\s+return.completed,return.exception\\s+S1` +
          `\\s+enabled\\s+never\\s+never\\s+0$`,
        'm',
      ),
    );
  });

  it('refuses bad input, unknown stores and read-only tokens, with the documented exit codes', async () => {
    const cases: [string, string[], number, RegExp][] = [
      [admin, ['add', 'ftp://erp.example/x', '--events', 'return.completed'], 2, /expected http:\/\/ or https:\/\//],
      [
        admin,
        ['add', 'https://user:pw@erp.example/x', '--events', 'return.completed'],
        2,
        /credentials in the URL are refused/,
      ],
      [admin, ['add', rxUrl, '--events', 'return.completed,return.teleported'], 2, /unknown "return.teleported"/],
      [admin, ['add', rxUrl, '--events', 'return.completed', '--store', 'S999'], 3, /store S999 not found/],
      [operator, ['add', rxUrl, '--events', 'return.completed'], 4, /may only read/],
      [operator, ['test', 'wh_0000000000'], 4, /may only read/],
      [admin, ['test', 'wh_0000000000'], 3, /webhook wh_0000000000 not found/],
      [admin, ['rotate-secret', 'x', '--overlap', 'soon'], 2, /--overlap: expected a duration/],
    ];
    for (const [token, args, code, msg] of cases) {
      const r = await cli(token, ...args);
      expect({ args, code: r.code }).toEqual({ args, code });
      expect(r.stderr).toMatch(msg);
    }
    expect((await json<EndpointView[]>(admin, 'list')).map((e) => e.id)).toEqual([id]);
  });

  it('test sends webhook.test to that endpoint only; deliveries shows it', async () => {
    const other = await json<{ id: string }>(admin, 'add', `${rxUrl}/other`, '--events', 'return.completed');
    const r = await json<{ delivery: string; messageId: string }>(admin, 'test', id);
    expect(await hub.webhooks.runDue()).toBe(1);
    expect(got).toHaveLength(1);
    expect(h(0)['webhook-id']).toBe(r.messageId);
    expect(new Webhook(secret).verify(got[0]!.body, h(0))).toMatchObject({
      type: 'webhook.test',
      data: { webhook: id, requestedBy: `admin:${tokenId}` },
    });
    const d = await json<DeliveryView[]>(operator, 'deliveries', '--webhook', id);
    expect(d).toEqual([
      expect.objectContaining({
        id: r.delivery,
        webhook: id,
        type: 'webhook.test',
        messageId: r.messageId,
        state: 'succeeded',
        attempts: 1,
        lastStatus: 200,
        nextAttemptAt: null,
      }),
    ]);
    expect(await json<DeliveryView[]>(operator, 'deliveries', '--webhook', other.id)).toEqual([]);
    expect((await cli(admin, 'remove', other.id)).code).toBe(0);
  });

  it('deliveries --failed, then redeliver: a new attempt now with the same webhook-id', async () => {
    status = 503;
    t.hub.storage.tx(() =>
      hub.webhooks.emit({ type: 'return.exception', store: 'S1', data: { authorization: 'a-9', code: 'over_return' } }),
    );
    // another store: not for this endpoint
    t.hub.storage.tx(() => hub.webhooks.emit({ type: 'return.exception', store: 'S2', data: {} }));
    expect(await hub.webhooks.runDue()).toBe(1);
    const failed = await json<DeliveryView[]>(operator, 'deliveries', '--failed');
    expect(failed).toHaveLength(1);
    expect(failed[0]).toMatchObject({
      webhook: id,
      type: 'return.exception',
      state: 'failed',
      attempts: 1,
      lastStatus: 503,
      lastError: 'HTTP 503',
      nextAttemptAt: new Date(t.clock.now() + 5000).toISOString(),
    });
    const human = await cli(operator, 'deliveries', '--failed');
    expect(human.stdout).toMatch(
      new RegExp(
        `^${failed[0]!.id}\\s+${id}\\s+return.exception\\s+${failed[0]!.messageId}` +
          `\\s+1\\s+failed\\s+\\S+\\s+503\\s+HTTP 503$`,
        'm',
      ),
    );

    status = 200;
    const re = await json<DeliveryView>(admin, 'redeliver', failed[0]!.id);
    expect(re).toMatchObject({
      id: failed[0]!.id,
      state: 'pending',
      nextAttemptAt: new Date(t.clock.now()).toISOString(),
    });
    expect(await hub.webhooks.runDue()).toBe(1);
    expect(h(2)['webhook-id']).toBe(h(1)['webhook-id']);
    expect(h(2)['webhook-id']).toBe(failed[0]!.messageId);
    expect(await json<DeliveryView[]>(operator, 'deliveries', '--failed')).toEqual([]);
    const [latest] = await json<DeliveryView[]>(operator, 'deliveries', '--webhook', id, '--limit', '1');
    expect(latest).toMatchObject({ id: failed[0]!.id, state: 'succeeded', attempts: 2 });
  });

  it('rotate-secret: both signatures during the overlap; either secret verifies', async () => {
    const r = await json<{ secret: string; previousSecretExpiresAt: string }>(
      admin,
      'rotate-secret',
      id,
      '--overlap',
      '1h',
    );
    expect(r.secret).toMatch(/^whsec_/);
    expect(r.previousSecretExpiresAt).toBe(new Date(t.clock.now() + 3_600_000).toISOString());
    await json(admin, 'test', id);
    await hub.webhooks.runDue();
    const last = got.length - 1;
    expect(h(last)['webhook-signature']!.split(' ')).toHaveLength(2);
    expect(new Webhook(secret).verify(got[last]!.body, h(last))).toMatchObject({ type: 'webhook.test' });
    expect(new Webhook(r.secret).verify(got[last]!.body, h(last))).toMatchObject({ type: 'webhook.test' });
    secret = r.secret;
    expect((await json<EndpointView[]>(operator, 'list'))[0]!.previousSecretExpiresAt).toBe(r.previousSecretExpiresAt);
  });

  it(
    'disable shows why in list; a disabled endpoint refuses test until enabled; remove; every change ' + 'audited',
    async () => {
      expect((await cli(admin, 'disable', id, '--reason', 'ERP maintenance')).stdout).toBe(`webhook ${id} disabled\n`);
      const [v] = await json<EndpointView[]>(operator, 'list');
      expect(v).toMatchObject({ state: 'disabled', disabledReason: `disabled by admin:${tokenId}: ERP maintenance` });
      expect((await cli(operator, 'list')).stdout).toContain(
        `disabled since ${v!.disabledAt}: disabled by admin:${tokenId}: ERP maintenance`,
      );
      expect(hub.webhooks.disabledEndpoints().map((d) => d.id)).toEqual([id]);
      const refused = await cli(admin, 'test', id);
      expect(refused.code).toBe(6);
      expect(refused.stderr).toContain(`enable it first: tillbridge-hub webhooks enable ${id}`);
      expect((await cli(admin, 'enable', id)).stdout).toBe(`webhook ${id} enabled\n`);
      expect((await json<EndpointView[]>(operator, 'list'))[0]!.state).toBe('enabled');
      expect((await cli(admin, 'remove', id)).stdout).toBe(`webhook ${id} removed\n`);
      expect(await json<EndpointView[]>(operator, 'list')).toEqual([]);
      expect((await cli(admin, 'remove', id)).code).toBe(3);

      const mine = t.hub.audit
        .tail(100)
        .filter((e) => e.resource === `webhook:${id}` || e.action === 'webhook.redeliver');
      expect(mine.map((e) => e.action)).toEqual([
        'webhook.add',
        'webhook.test',
        'webhook.redeliver',
        'webhook.rotate_secret',
        'webhook.test',
        'webhook.disable',
        'webhook.enable',
        'webhook.remove',
      ]);
      expect(new Set(mine.map((e) => e.actor))).toEqual(new Set([`admin:${tokenId}`]));
      expect(JSON.stringify(t.hub.audit.tail(100))).not.toContain(secret.slice(6));
      expect(t.hub.auditTrail.verify().ok).toBe(true);
    },
  );

  it('every command has --help with an example', async () => {
    for (const c of [
      'add',
      'list',
      'remove',
      'test',
      'deliveries',
      'redeliver',
      'rotate-secret',
      'enable',
      'disable',
    ]) {
      const r = await cli(admin, c, '--help');
      expect(r.stdout).toMatch(/Examples?:\n {2}tillbridge-hub webhooks /);
    }
  });
});

describe('a running hub (startHub)', () => {
  it('serves the webhook routes and its delivery loop sends what is queued, signed', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tb-hub-wh-'));
    const { adminToken } = initHub(dir, silent);
    const running = await startHub({ dataDir: dir, host: '127.0.0.1', port: 0, log: silent });
    const before = got.length;
    try {
      const client = new AdminClient(running.url, adminToken);
      const ep = await client.request(addWebhook, { body: { url: rxUrl, events: ['return.completed'] } });
      const q = await client.request(testWebhook, { params: { id: ep.id }, body: {} });
      for (let i = 0; i < 200 && got.length === before; i++) await new Promise((r) => setTimeout(r, 10));
      expect(got.length).toBe(before + 1);
      expect(h(before)['webhook-id']).toBe(q.messageId);
      expect(new Webhook(ep.secret).verify(got[before]!.body, h(before))).toMatchObject({
        type: 'webhook.test',
        data: { webhook: ep.id },
      });
      for (let i = 0; i < 100 && running.hub.webhooks.outcomes().succeeded === 0; i++)
        await new Promise((r) => setTimeout(r, 10));
      expect(await client.request(listDeliveries, { query: { webhook: ep.id } })).toEqual([
        expect.objectContaining({ state: 'succeeded', attempts: 1 }),
      ]);
    } finally {
      await running.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
