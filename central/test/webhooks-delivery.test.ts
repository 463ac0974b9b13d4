import type { IncomingHttpHeaders } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { waitFor } from '@tillbridge/scripts/lib/wait';
import { afterEach, describe, expect, it } from 'vitest';
import { Webhook } from 'standardwebhooks';
import { initHub } from '../src/hub.js';
import { serveOnLoopback, withBody } from '../../test/support/http-server.js';
import { loadSecrets } from '../src/auth/secrets.js';
import { AuditLog } from '../src/domain/audit-log.js';
import { AuditTrail } from '../src/audit/trail.js';
import { iso } from '../src/domain/clock.js';
import { openSqliteStorage, type SqliteHubStorage as HubStorage } from '../src/storage/index.js';
import { Webhooks, type AttemptReport, type NewEndpoint, type WebhooksOptions } from '../src/webhooks/webhooks.js';
import { newWebhookSecret } from '../src/webhooks/signing.js';
import { jittered, retryAfterMs, RETRY_SCHEDULE_MS } from '../src/webhooks/retry-policy.js';
import { sortableId } from '../src/webhooks/repo.js';
import { silent, TestClock } from './helpers.js';

// ---- a real receiver on 127.0.0.1:0

interface Received {
  headers: IncomingHttpHeaders;
  body: string;
  /** When it arrived, on one counter shared by every receiver: tells what came before what. */
  order: number;
}
type Reply = { status: number; headers?: Record<string, string>; body?: string } | 'hang';

interface Receiver {
  url: string;
  got: Received[];
  /** What the next requests get; the last entry repeats. */
  replies: Reply[];
  /** When each request's connection was given up by the sender, on the same counter. */
  closed: number[];
  close(): Promise<void>;
}

let tick = 0;

const open: (() => Promise<void>)[] = [];
afterEach(async () => {
  while (open.length) await open.pop()!();
});

async function receiver(...replies: Reply[]): Promise<Receiver> {
  const r: Receiver = {
    url: '',
    got: [],
    replies: replies.length ? replies : [{ status: 200 }],
    closed: [],
    close: () => Promise.resolve(),
  };
  const server = await serveOnLoopback(
    withBody((req, body, res) => {
      r.got.push({ headers: req.headers, body, order: ++tick });
      const reply = r.replies.length > 1 ? r.replies.shift()! : r.replies[0]!;
      if (reply === 'hang') {
        res.on('close', () => r.closed.push(++tick));
        return;
      }
      res.writeHead(reply.status, reply.headers ?? {});
      res.end(reply.body ?? '');
    }),
  );
  r.url = `${server.url}/hook`;
  r.close = server.close;
  open.push(() => r.close());
  return r;
}

// ---- a real hub database, and webhooks on it

interface Fixture {
  dir: string;
  storage: HubStorage;
  audit: AuditLog;
  clock: TestClock;
  wh: Webhooks;
  sealKey: Buffer;
}

function fixture(opts: Partial<WebhooksOptions> = {}): Fixture {
  const dir = mkdtempSync(join(tmpdir(), 'tb-webhooks-'));
  initHub(dir, silent);
  const storage = openSqliteStorage(dir);
  // real time: standardwebhooks checks webhook-timestamp against Date.now()
  const clock = new TestClock(Date.now());
  const audit = new AuditLog(storage, clock);
  const sealKey = loadSecrets(dir).sealKey;
  const wh = new Webhooks({ storage, audit, clock, log: silent, sealKey, random: () => 0.5, ...opts });
  open.push(async () => {
    await wh.stop();
    if (storage.isOpen()) storage.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return { dir, storage, audit, clock, wh, sealKey };
}

const completed = (
  f: Fixture,
  store: string | null = 'S1',
  data: Record<string, unknown> = { authorization: 'a-1' },
): void => f.storage.tx(() => f.wh.emit({ type: 'return.completed', store, data }));

/** A receiver answering `replies` in turn, and a hub whose endpoint for return.completed sends to it. */
async function subscribed(...replies: Reply[]): Promise<{ rx: Receiver; f: Fixture; ep: NewEndpoint }> {
  const rx = await receiver(...replies);
  const f = fixture();
  const ep = f.wh.add({ url: rx.url, events: ['return.completed'] }, 'admin:test');
  return { rx, f, ep };
}

/**
 * A hub (built with `opts`) and two receivers, answering `first` and `second` (one reply each), each
 * with the hub's endpoint for return.completed that sends to it (added in that order).
 */
async function subscribedPair(
  first: Reply,
  second: Reply,
  opts: Partial<WebhooksOptions> = {},
): Promise<[Fixture, [Receiver, NewEndpoint], [Receiver, NewEndpoint]]> {
  const rx: [Receiver, Receiver] = [await receiver(first), await receiver(second)];
  const f = fixture(opts);
  const add = (r: Receiver): [Receiver, NewEndpoint] => [
    r,
    f.wh.add({ url: r.url, events: ['return.completed'] }, 'admin:test'),
  ];
  return [f, add(rx[0]), add(rx[1])];
}

const headersOf = (r: Received): Record<string, string> => r.headers as Record<string, string>;

describe('webhook signatures (Standard Webhooks 1.0, checked with the standardwebhooks package)', () => {
  it(
    'signs each request so that a receiver verifies it; a changed body, another secret or an old timestamp are ' +
      'refused',
    async () => {
      const { rx, f, ep } = await subscribed({ status: 204 });
      expect(ep.secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
      expect(Buffer.from(ep.secret.slice(6), 'base64').length).toBe(32);

      completed(f, 'S1', { authorization: 'a-1', refund: 1250 });
      expect(await f.wh.runDue()).toBe(1);
      expect(rx.got).toHaveLength(1);
      const req = rx.got[0]!;
      const h = headersOf(req);
      expect(h['content-type']).toBe('application/json');
      expect(h['user-agent']).toBe('tillbridge-hub');
      expect(h['webhook-id']).toMatch(/^msg_[0-9a-z]{26}$/);
      expect(h['webhook-timestamp']).toBe(String(Math.floor(f.clock.now() / 1000)));
      expect(h['webhook-signature']).toMatch(/^v1,[A-Za-z0-9+/]{43}=$/);
      expect(JSON.parse(req.body)).toEqual({
        type: 'return.completed',
        timestamp: iso(f.clock.now()),
        data: { authorization: 'a-1', refund: 1250 },
      });

      expect(new Webhook(ep.secret).verify(req.body, h)).toEqual(JSON.parse(req.body));
      expect(() => new Webhook(ep.secret).verify(req.body.replace('1250', '9250'), h)).toThrow(/No matching signature/);
      expect(() => new Webhook(newWebhookSecret()).verify(req.body, h)).toThrow(/No matching signature/);

      // an attempt made 10 minutes ago is refused by the receiver's tolerance (5 min)
      f.clock.t = Date.now() - 10 * 60_000;
      completed(f);
      await f.wh.runDue();
      expect(rx.got).toHaveLength(2);
      expect(() => new Webhook(ep.secret).verify(rx.got[1]!.body, headersOf(rx.got[1]!))).toThrow(/too old/);
    },
  );

  it('keeps the secret sealed at rest and never shows it again', () => {
    const f = fixture();
    const ep = f.wh.add({ url: 'https://erp.example/hook', events: 'return.completed,return.exception' }, 'admin:test');
    const rows = JSON.stringify(f.storage.db.prepare('SELECT * FROM webhooks').all());
    expect(rows).not.toContain(ep.secret.slice(6, 30));
    expect(JSON.stringify(f.wh.list())).not.toContain(ep.secret.slice(6, 30));
    expect(f.wh.list()[0]).toMatchObject({
      id: ep.id,
      url: 'https://erp.example/hook',
      events: ['return.completed', 'return.exception'],
      store: null,
      state: 'enabled',
    });
    const audit = JSON.stringify(f.storage.db.prepare('SELECT * FROM audit').all());
    expect(audit).toContain(`webhook:${ep.id}`);
    expect(audit).not.toContain(ep.secret.slice(6, 30));
  });

  it(
    'rotation: both signatures during the overlap, and the receiver accepts either secret; only the new one after ' +
      'it',
    async () => {
      const { rx, f, ep } = await subscribed({ status: 200 });
      const rot = f.wh.rotateSecret(ep.id, 3_600_000, 'admin:test');
      expect(rot.secret).not.toBe(ep.secret);
      expect(rot.previousSecretExpiresAt).toBe(iso(f.clock.now() + 3_600_000));

      completed(f);
      await f.wh.runDue();
      const req = rx.got[0]!;
      const sigs = headersOf(req)['webhook-signature']!.split(' ');
      expect(sigs).toHaveLength(2);
      expect(sigs.every((s) => s.startsWith('v1,'))).toBe(true);
      expect(new Webhook(rot.secret).verify(req.body, headersOf(req))).toMatchObject({ type: 'return.completed' });
      expect(new Webhook(ep.secret).verify(req.body, headersOf(req))).toMatchObject({ type: 'return.completed' });

      f.clock.advance(3_600_001);
      completed(f);
      await f.wh.runDue();
      const late = rx.got[1]!;
      const lh = headersOf(late);
      const ts = Number(lh['webhook-timestamp']);
      expect(lh['webhook-signature']).toBe(
        new Webhook(rot.secret).sign(lh['webhook-id']!, new Date(ts * 1000), late.body),
      );
    },
  );
});

describe('webhook delivery', () => {
  it(
    "2xx succeeds; only subscribed endpoints of the event's store get it, " + 'all with one webhook-id per event',
    async () => {
      const s1 = await receiver({ status: 201 });
      const all = await receiver({ status: 200 });
      const f = fixture();
      const reports: AttemptReport[] = [];
      f.wh.onAttempt((a) => reports.push(a));
      const a = f.wh.add({ url: s1.url, events: ['return.completed'], store: 'S1' }, 'admin:test');
      const b = f.wh.add({ url: all.url, events: ['return.completed', 'return.denied'] }, 'admin:test');

      f.storage.tx(() => f.wh.emit({ type: 'return.denied', store: 'S1', data: {} }));
      completed(f, 'S2');
      completed(f, 'S1');
      // rolled back with the caller's transaction: nothing queued
      expect(() =>
        f.storage.tx(() => {
          f.wh.emit({ type: 'return.completed', store: 'S1', data: {} });
          throw new Error('the return failed');
        }),
      ).toThrow('the return failed');
      expect(f.wh.outcomes()).toEqual({ succeeded: 0, failed: 0, abandoned: 0, pending: 4 });

      expect(await f.wh.runDue()).toBe(4);
      expect(s1.got.map((r) => (JSON.parse(r.body) as { type: string }).type)).toEqual(['return.completed']);
      expect(all.got.map((r) => (JSON.parse(r.body) as { type: string }).type).sort()).toEqual([
        'return.completed',
        'return.completed',
        'return.denied',
      ]);
      const s1Id = headersOf(s1.got[0]!)['webhook-id'];
      expect(all.got.filter((r) => headersOf(r)['webhook-id'] === s1Id)).toHaveLength(1);

      const d = f.wh.deliveries({ webhook: a.id });
      expect(d).toHaveLength(1);
      expect(d[0]).toMatchObject({
        state: 'succeeded',
        attempts: 1,
        lastStatus: 201,
        lastError: null,
        nextAttemptAt: null,
        messageId: s1Id,
        type: 'return.completed',
      });
      expect(f.wh.get(a.id)).toMatchObject({
        lastSuccessAt: iso(f.clock.now()),
        lastFailureAt: null,
        failingSince: null,
        openDeliveries: 0,
      });
      expect(f.wh.get(b.id).openDeliveries).toBe(0);
      expect(f.wh.outcomes()).toEqual({ succeeded: 4, failed: 0, abandoned: 0, pending: 0 });
      expect(reports.map((r) => r.outcome)).toEqual(['succeeded', 'succeeded', 'succeeded', 'succeeded']);
      expect(await f.wh.runDue()).toBe(0);
    },
  );

  it(
    'a 500 is retried on the schedule (5 s, 5 min, 30 min, ' + '2 h, 5 h, 10 h, 10 h), same webhook-id, then abandoned',
    async () => {
      const { rx, f, ep } = await subscribed({ status: 500, body: 'database is down' });
      completed(f);
      expect(await f.wh.runDue()).toBe(1);
      for (const [i, delay] of RETRY_SCHEDULE_MS.entries()) {
        const d = f.wh.deliveries({ webhook: ep.id })[0]!;
        expect(d).toMatchObject({
          state: 'failed',
          attempts: i + 1,
          lastStatus: 500,
          nextAttemptAt: iso(f.clock.now() + delay),
        });
        expect(d.lastError).toBe('HTTP 500: database is down');
        f.clock.advance(delay - 1000);
        expect(await f.wh.runDue()).toBe(0);
        f.clock.advance(1000);
        expect(await f.wh.runDue()).toBe(1);
      }
      const last = f.wh.deliveries({ webhook: ep.id })[0]!;
      expect(last).toMatchObject({ state: 'abandoned', attempts: 8, nextAttemptAt: null });
      expect(last.lastError).toMatch(/gave up after 8 failed attempts/);
      f.clock.advance(86_400_000);
      expect(await f.wh.runDue()).toBe(0);
      expect(rx.got).toHaveLength(8);
      expect(new Set(rx.got.map((r) => headersOf(r)['webhook-id'])).size).toBe(1);
      const stamps = rx.got.map((r) => Number(headersOf(r)['webhook-timestamp']));
      expect(stamps[1]! - stamps[0]!).toBe(5);
      expect(stamps[2]! - stamps[1]!).toBe(300);
      expect(f.wh.get(ep.id)).toMatchObject({ state: 'enabled', openDeliveries: 0 });
      expect(f.wh.outcomes()).toMatchObject({ succeeded: 0, failed: 7, abandoned: 1, pending: 0 });
      expect(f.wh.deliveries({ failed: true }).map((x) => x.id)).toEqual([last.id]);
    },
  );

  it('spreads each retry by ±10 %, and reads Retry-After as seconds or an HTTP date', () => {
    expect(jittered(300_000, () => 0)).toBe(270_000);
    expect(jittered(300_000, () => 1)).toBe(330_000);
    expect(jittered(300_000, () => 0.5)).toBe(300_000);
    const now = Date.parse('2026-11-27T10:00:00Z');
    expect(retryAfterMs('120', now)).toBe(120_000);
    expect(retryAfterMs('Fri, 27 Nov 2026 10:05:00 GMT', now)).toBe(300_000);
    expect(retryAfterMs('soon', now)).toBeUndefined();
    expect(retryAfterMs('99999999', now)).toBe(86_400_000);
  });

  it('gives events and deliveries ids that sort in creation order', () => {
    const ids = Array.from({ length: 2000 }, () => sortableId('dlv'));
    expect(ids[0]).toMatch(/^dlv_[0-9a-hjkmnp-tv-z]{26}$/);
    expect(new Set(ids).size).toBe(2000);
    expect([...ids].sort()).toEqual(ids);
  });

  it('real jitter stays within ±10 % of the schedule', async () => {
    const rx = await receiver({ status: 500 });
    const f = fixture({ random: Math.random });
    f.wh.add({ url: rx.url, events: ['return.completed'] }, 'admin:test');
    for (let i = 0; i < 5; i++) completed(f);
    await f.wh.runDue();
    for (const d of f.wh.deliveries({})) {
      const delay = Date.parse(d.nextAttemptAt!) - f.clock.now();
      expect(delay).toBeGreaterThanOrEqual(4500);
      expect(delay).toBeLessThanOrEqual(5500);
    }
  });

  it('a 302 is a failure and the redirect is not followed', async () => {
    const target = await receiver({ status: 200 });
    const { rx, f, ep } = await subscribed({ status: 302, headers: { location: target.url } });
    completed(f);
    await f.wh.runDue();
    expect(rx.got).toHaveLength(1);
    expect(target.got).toHaveLength(0);
    const d = f.wh.deliveries({ webhook: ep.id })[0]!;
    expect(d).toMatchObject({ state: 'failed', lastStatus: 302, nextAttemptAt: iso(f.clock.now() + 5000) });
    expect(d.lastError).toContain(`redirect to ${target.url}, not followed`);
    expect(f.wh.get(ep.id)).toMatchObject({
      state: 'enabled',
      lastFailureAt: iso(f.clock.now()),
      failingSince: iso(f.clock.now()),
    });
  });

  it('410 Gone disables the endpoint (audited): nothing more is sent to it', async () => {
    const { rx, f, ep } = await subscribed({ status: 410 });
    completed(f);
    completed(f);
    await f.wh.runDue();
    expect(rx.got).toHaveLength(1);
    expect(f.wh.get(ep.id)).toMatchObject({
      state: 'disabled',
      disabledReason: 'the endpoint answered 410 Gone',
      disabledAt: iso(f.clock.now()),
    });
    expect(f.wh.deliveries({ webhook: ep.id }).map((d) => d.state)).toEqual(['abandoned', 'abandoned']);
    expect(f.wh.disabledEndpoints()).toEqual([
      { id: ep.id, url: rx.url, store: null, disabledAt: iso(f.clock.now()), reason: 'the endpoint answered 410 Gone' },
    ]);
    const entry = f.audit.tail(1)[0]!;
    expect(entry).toMatchObject({
      actor: 'hub:webhooks',
      action: 'webhook.disable',
      outcome: 'disabled',
      resource: `webhook:${ep.id}`,
    });
    expect(JSON.parse(entry.details)).toMatchObject({ reason: 'the endpoint answered 410 Gone', abandoned: 1 });

    completed(f);
    f.clock.advance(3_600_000);
    expect(await f.wh.runDue()).toBe(0);
    expect(rx.got).toHaveLength(1);
    expect(f.wh.deliveries({ webhook: ep.id })).toHaveLength(2);
    expect(() => f.wh.redeliver(f.wh.deliveries({ webhook: ep.id })[0]!.id, 'admin:test')).toThrow(
      /disabled.*enable it first/,
    );
  });

  it(
    '429 with Retry-After: 120 waits at least 120 s; a 503 with an HTTP date waits until then; a 500 ignores ' +
      'Retry-After',
    async () => {
      const { rx, f, ep } = await subscribed({ status: 429, headers: { 'retry-after': '120' } }, { status: 200 });
      completed(f);
      await f.wh.runDue();
      expect(f.wh.deliveries({ webhook: ep.id })[0]).toMatchObject({
        state: 'failed',
        lastStatus: 429,
        nextAttemptAt: iso(f.clock.now() + 120_000),
      });
      f.clock.advance(119_000);
      expect(await f.wh.runDue()).toBe(0);
      f.clock.advance(1000);
      expect(await f.wh.runDue()).toBe(1);
      expect(f.wh.deliveries({ webhook: ep.id })[0]).toMatchObject({ state: 'succeeded', attempts: 2 });

      const at = new Date(Math.ceil((f.clock.now() + 300_000) / 1000) * 1000);
      rx.replies = [
        { status: 503, headers: { 'retry-after': at.toUTCString() } },
        { status: 500, headers: { 'retry-after': '600' } },
      ];
      completed(f);
      await f.wh.runDue();
      expect(f.wh.deliveries({ webhook: ep.id })[0]).toMatchObject({
        state: 'failed',
        lastStatus: 503,
        nextAttemptAt: at.toISOString(),
      });
      f.clock.t = at.getTime();
      await f.wh.runDue();
      expect(f.wh.deliveries({ webhook: ep.id })[0]).toMatchObject({
        state: 'failed',
        lastStatus: 500,
        attempts: 2,
        nextAttemptAt: iso(f.clock.now() + 300_000),
      });
    },
  );

  it(
    'an endpoint failing for 5 days with no success is disabled, ' + 'with an audit entry; a success resets the count',
    async () => {
      const [f, [bad, a], [flaky, b]] = await subscribedPair({ status: 500 }, { status: 500 });
      const start = f.clock.now();
      let disabledAt: number | undefined;
      for (let hour = 0; hour < 6 * 24 && disabledAt === undefined; hour++) {
        if (hour % 6 === 0) completed(f);
        if (hour === 4 * 24) flaky.replies = [{ status: 200 }, { status: 500 }];
        await f.wh.runDue();
        if (f.wh.get(a.id).state === 'disabled') disabledAt = f.clock.now();
        f.clock.advance(3_600_000);
      }
      expect(disabledAt).toBeDefined();
      expect(disabledAt! - start).toBeGreaterThanOrEqual(5 * 86_400_000);
      expect(disabledAt! - start).toBeLessThan(5 * 86_400_000 + 3_600_000);
      const view = f.wh.get(a.id);
      expect(view.disabledReason).toBe(`failing with no success since ${iso(start)} (5 days)`);
      expect(view.openDeliveries).toBe(0);
      expect(f.wh.get(b.id)).toMatchObject({ state: 'enabled' });
      expect(f.wh.get(b.id).lastSuccessAt).not.toBeNull();
      expect(f.wh.disabledEndpoints().map((d) => d.id)).toEqual([a.id]);
      const entry = f.audit.tail(20).find((e) => e.action === 'webhook.disable')!;
      expect(entry).toMatchObject({ actor: 'hub:webhooks', outcome: 'disabled', resource: `webhook:${a.id}` });
      expect(JSON.parse(entry.details).reason).toMatch(/failing with no success since/);
      expect(new AuditTrail(f.storage, f.audit, f.clock, { dataDir: f.dir }, silent).verify().ok).toBe(true);
      const sentBefore = bad.got.length;
      completed(f);
      f.clock.advance(86_400_000);
      await f.wh.runDue();
      expect(bad.got.length).toBe(sentBefore);
    },
  );

  it(
    'a hub restart mid-retry loses nothing: ' + 'the delivery is still due, and goes out with the same webhook-id',
    async () => {
      const { rx, f, ep } = await subscribed({ status: 500 });
      completed(f);
      await f.wh.runDue();
      const firstId = headersOf(rx.got[0]!)['webhook-id'];
      f.storage.close(); // as if the process died: no stop()

      rx.replies = [{ status: 200 }];
      const storage = openSqliteStorage(f.dir);
      const again = new Webhooks({
        storage,
        audit: new AuditLog(storage, f.clock),
        clock: f.clock,
        log: silent,
        sealKey: loadSecrets(f.dir).sealKey,
        random: () => 0.5,
      });
      open.push(async () => {
        await again.stop();
        storage.close();
      });
      expect(again.deliveries({ webhook: ep.id })[0]).toMatchObject({
        state: 'failed',
        attempts: 1,
        nextAttemptAt: iso(f.clock.now() + 5000),
      });
      expect(await again.runDue()).toBe(0);
      f.clock.advance(5000);
      expect(await again.runDue()).toBe(1);
      expect(rx.got).toHaveLength(2);
      expect(headersOf(rx.got[1]!)['webhook-id']).toBe(firstId);
      expect(new Webhook(ep.secret).verify(rx.got[1]!.body, headersOf(rx.got[1]!))).toMatchObject({
        type: 'return.completed',
      });
      expect(again.deliveries({ webhook: ep.id })[0]).toMatchObject({ state: 'succeeded', attempts: 2 });
    },
  );

  it(
    'an endpoint that hangs does not delay deliveries to another in the same pass; ' + 'the hang is a timeout failure',
    async () => {
      const [f, [hang, h], [ok, o]] = await subscribedPair('hang', { status: 200 }, { timeoutMs: 800 });
      completed(f);
      completed(f);
      expect(await f.wh.runDue()).toBe(4);
      expect(ok.got).toHaveLength(2);
      expect(hang.got).toHaveLength(2);
      await waitFor('both hanging attempts closed', () => hang.closed.length === 2);
      // the other endpoint had both deliveries before the first hanging attempt was given up
      expect(ok.got[1]!.order).toBeLessThan(hang.closed[0]!);
      // the hanging endpoint's two attempts came one after the other
      expect(hang.got[1]!.order).toBeGreaterThan(hang.closed[0]!);
      expect(f.wh.deliveries({ webhook: o.id }).map((d) => d.state)).toEqual(['succeeded', 'succeeded']);
      const hung = f.wh.deliveries({ webhook: h.id });
      expect(hung.map((d) => d.state)).toEqual(['failed', 'failed']);
      expect(hung[0]!.lastError).toBe('timeout: no answer within 800 ms');
      expect(hung[0]!.lastStatus).toBeNull();
    },
  );

  it('the loop delivers soon after emit; stop() cuts a hanging attempt short and leaves it due', async () => {
    const ok = await receiver({ status: 200 });
    const hang = await receiver('hang');
    // An attempt may hang for two minutes: a stop() that waited for it would outlast the test's timeout.
    const f = fixture({ timeoutMs: 120_000, pollMs: 20, drainMs: 100 });
    f.wh.add({ url: ok.url, events: ['return.completed'] }, 'admin:test');
    const h = f.wh.add({ url: hang.url, events: ['return.exception'] }, 'admin:test');
    f.wh.start();
    completed(f);
    f.storage.tx(() => f.wh.emit({ type: 'return.exception', store: 'S1', data: {} }));
    for (let i = 0; i < 100 && (ok.got.length < 1 || hang.got.length < 1); i++)
      await new Promise((r) => setTimeout(r, 10));
    expect(ok.got).toHaveLength(1);
    expect(hang.got).toHaveLength(1);
    await f.wh.stop();
    // the attempt was cut short, not left hanging
    await waitFor('the hanging attempt closed', () => hang.closed.length === 1);
    expect(f.wh.deliveries({ webhook: h.id })[0]).toMatchObject({ state: 'pending', attempts: 0 });
    expect(f.wh.outcomes()).toMatchObject({ succeeded: 1, pending: 1 });
  });
});
