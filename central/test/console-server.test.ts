import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { AGENT_WS_PATH, TbCodes } from '@tillbridge/shared';
import { createTestDatabase, pgUnavailable } from '@tillbridge/scripts/lib/pg-test-db';
import { waitFor } from '@tillbridge/scripts/lib/wait';
import { runCommand } from '@tillbridge/scripts/lib/process';
import { HUB_BIN } from '@tillbridge/scripts/lib/paths';
import { initHub, startHub, type RunningHub } from '../src/hub.js';
import { secretPath } from '../src/auth/secrets.js';
import { signingKeyPath } from '../src/audit/signing-key.js';
import { agentSocket } from './agent-socket.js';
import { consoleSettings } from '../src/console/config.js';
import { CONSOLE_CSP } from '../src/console/server.js';
import { writeDevCerts } from '../src/tls/dev-certs.js';
import { agentToken, listeningHub, seedSale, silent, TestClock, wireHello } from './helpers.js';
import { askBody, askReturn } from './returns-support.js';
import { connectedScanner } from '../../test/support/terminals.js';
import type { AuditRow, AuditView, ExceptionDetail, StorePage, TerminalRow, Timeline } from '../src/console/wire.js';

// The operator console's server (central/src/console/): over real HTTP on 127.0.0.1, against a hub started in this
// process on SQLite (and, where PostgreSQL answers, two hub processes on one database), its page a small stand-in built
// here (the real page is tested in a browser: test/console-browser).

const IDLE_MS = 30 * 60_000;

function pageDir(root: string): string {
  const dir = join(root, 'page');
  mkdirSync(join(dir, 'assets'), { recursive: true });
  writeFileSync(join(dir, 'index.html'), '<!doctype html><script type="module" src="assets/app.js"></script>');
  writeFileSync(join(dir, 'assets', 'app.js'), 'export {};');
  writeFileSync(join(dir, 'assets', 'app.css'), 'body{}');
  return dir;
}

interface Started {
  running: RunningHub;
  base: string;
  clock: TestClock;
  operator: string;
  admin: string;
}

const dirs: string[] = [];
const hubs: RunningHub[] = [];
const databases: { drop(): void }[] = [];

async function start(tls?: { certFile: string; keyFile: string }): Promise<Started> {
  const dir = mkdtempSync(join(tmpdir(), 'tb-console-'));
  dirs.push(dir);
  const clock = new TestClock();
  const { adminToken } = initHub(join(dir, 'hub'), silent, clock);
  const running = await listeningHub(join(dir, 'hub'), {
    clock,
    console: {
      host: '127.0.0.1',
      port: 0,
      assetsDir: pageDir(dir),
      tls,
      live: { flushMs: 10, refreshMs: 60_000 },
      timeline: { commitMs: 10 },
      sessions: { idleMs: IDLE_MS },
    },
  });
  hubs.push(running);
  const operator = running.hub.credentials.createAdminToken('operator', 'night desk').secret;
  const base = running.console?.url.replace(/\/console\/$/, '') ?? '';
  return { running, base, clock, operator, admin: adminToken };
}

afterAll(async () => {
  for (const h of hubs) await h.stop();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
  for (const db of databases) db.drop();
});

async function signIn(s: Started, token: string, origin = s.base): Promise<Response> {
  return fetch(`${s.base}/console/api/sign-in`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', origin },
    body: JSON.stringify({ token }),
  });
}

/** The session cookie (name=value) a sign-in set. */
async function session(s: Started, token = s.operator): Promise<string> {
  const res = await signIn(s, token);
  expect(res.status).toBe(200);
  return (res.headers.get('set-cookie') ?? '').split(';')[0] ?? '';
}

/** Reads Server-Sent Events from `path` until `until` says enough; the events read. */
async function readEvents(
  s: Started,
  cookie: string,
  until: (events: { event: string; data: unknown }[]) => boolean,
  afterOpen: () => void,
): Promise<{ event: string; data: unknown }[]> {
  const ctl = new AbortController();
  const res = await fetch(`${s.base}/console/api/events`, { headers: { cookie }, signal: ctl.signal });
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
  const reader = res.body!.getReader();
  const events: { event: string; data: unknown }[] = [];
  let buf = '';
  let opened = false;
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += Buffer.from(value).toString('utf8');
      let cut;
      while ((cut = buf.indexOf('\n\n')) >= 0) {
        const block = buf.slice(0, cut);
        buf = buf.slice(cut + 2);
        const event = /^event: (.*)$/m.exec(block)?.[1];
        const data = /^data: (.*)$/m.exec(block)?.[1];
        if (event !== undefined && data !== undefined) events.push({ event, data: JSON.parse(data) as unknown });
      }
      if (!opened && events.length > 0) {
        opened = true;
        afterOpen();
      }
      if (until(events)) break;
    }
  } finally {
    ctl.abort();
  }
  return events;
}

describe('the console server', () => {
  let s: Started;
  beforeAll(async () => {
    s = await start();
    s.running.hub.stores.create('S1', 'Main street');
    s.running.hub.stores.create('S2', 'Harbour');
  });

  it('serves its page with a strict CSP, no sniffing, no framing, and the right content types', async () => {
    const page = await fetch(`${s.base}/console/`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(page.headers.get('content-security-policy')).toBe(CONSOLE_CSP);
    expect(CONSOLE_CSP).toMatch(/default-src 'self'/);
    expect(CONSOLE_CSP).toMatch(/frame-ancestors 'none'/);
    expect(CONSOLE_CSP).not.toMatch(/unsafe-inline|unsafe-eval/);
    expect(page.headers.get('x-content-type-options')).toBe('nosniff');
    expect(page.headers.get('x-frame-options')).toBe('DENY');
    const js = await fetch(`${s.base}/console/assets/app.js`);
    expect(js.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    expect(js.headers.get('content-security-policy')).toBe(CONSOLE_CSP);
    expect((await fetch(`${s.base}/console/assets/app.css`)).headers.get('content-type')).toBe(
      'text/css; charset=utf-8',
    );
    expect((await fetch(`${s.base}/console/assets/nothing.js`)).status).toBe(404);
    expect((await fetch(`${s.base}/console/%2e%2e/%2e%2e/etc/passwd`)).status).toBe(404);
    const root = await fetch(`${s.base}/`, { redirect: 'manual' });
    expect(root.status).toBe(302);
    expect(root.headers.get('location')).toBe('/console/');
  });

  it('answers 401 to the API without a session, and says it is signed out', async () => {
    for (const path of ['fleet', 'decisions', 'events']) {
      const res = await fetch(`${s.base}/console/api/${path}`);
      expect(res.status, path).toBe(401);
      expect(((await res.json()) as { code: string }).code).toBe(TbCodes.UNAUTHORIZED);
      expect(res.headers.get('content-security-policy')).toBe(CONSOLE_CSP);
    }
    const bogus = await fetch(`${s.base}/console/api/fleet`, { headers: { cookie: 'tb_console=not-a-session' } });
    expect(bogus.status).toBe(401);
    expect(await (await fetch(`${s.base}/console/api/session`)).json()).toEqual({ signedIn: false });
  });

  it('exchanges an operator token for an HttpOnly, SameSite=Strict session cookie holding an opaque id', async () => {
    const res = await signIn(s, s.operator);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ signedIn: true, name: 'night desk', role: 'operator' });
    const cookie = res.headers.get('set-cookie') ?? '';
    expect(cookie).toMatch(/^tb_console=[A-Za-z0-9_-]{43}; /);
    expect(cookie).toMatch(/; HttpOnly(;|$)/);
    expect(cookie).toMatch(/; SameSite=Strict(;|$)/);
    expect(cookie).toMatch(/; Path=\/(;|$)/);
    expect(cookie).not.toMatch(/Secure/); // plain HTTP on loopback: a Secure cookie would never come back
    expect(cookie).not.toContain(s.operator);
    expect(res.headers.get('cache-control')).toBe('no-store');
    const id = cookie.split(';')[0] ?? '';
    const me = await fetch(`${s.base}/console/api/session`, { headers: { cookie: id } });
    expect(await me.json()).toEqual({ signedIn: true, name: 'night desk', role: 'operator' });
  });

  it('refuses a sign-in from another origin, without one, with a bad token or not as JSON', async () => {
    expect((await signIn(s, s.operator, 'http://evil.example')).status).toBe(403);
    const noOrigin = await fetch(`${s.base}/console/api/sign-in`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ token: s.operator }),
    });
    expect(noOrigin.status).toBe(403);
    const bad = await signIn(s, 'tba_nothing_like_a_token');
    expect(bad.status).toBe(401);
    expect(bad.headers.get('set-cookie')).toBeNull();
    const form = await fetch(`${s.base}/console/api/sign-in`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', origin: s.base },
      body: `token=${s.operator}`,
    });
    expect(form.status).toBe(415);
    const agentTokenLike = await signIn(s, '');
    expect(agentTokenLike.status).toBe(400);
  });

  it('answers 405 to every write, whoever is signed in (the console is read-only)', async () => {
    for (const token of [s.operator, s.admin]) {
      const cookie = await session(s, token);
      for (const method of ['POST', 'PUT', 'PATCH', 'DELETE']) {
        for (const path of ['/console/api/fleet', '/console/api/stores/S1', '/console/api/decisions', '/console/']) {
          const res = await fetch(`${s.base}${path}`, { method, headers: { cookie, origin: s.base } });
          expect(res.status, `${method} ${path}`).toBe(405);
          expect(res.headers.get('allow')).toBe('GET');
        }
      }
    }
    expect(s.running.hub.stores.list().map((x) => x.id)).toEqual(['S1', 'S2']);
  });

  it('reads the fleet: every store, its connection, agent and versions', async () => {
    const cookie = await session(s);
    s.running.hub.presence.connected('S1', 'agent-1', s.clock.now(), {
      protocol: 1,
      software: 'tillbridge-agent/0.9.1',
    });
    try {
      const res = await fetch(`${s.base}/console/api/fleet`, { headers: { cookie } });
      expect(res.status).toBe(200);
      const body = (await res.json()) as { stores: Record<string, unknown>[] };
      expect(body.stores.map((x) => [x.store, x.connected, x.agentVersion])).toEqual([
        ['S1', true, '0.9.1'],
        ['S2', false, null],
      ]);
      expect(body.stores[0]).toMatchObject({ name: 'Main street', policyVersion: 0, settingsVersion: 0 });
    } finally {
      s.running.hub.presence.disconnected('S1', s.clock.now());
    }
  });

  it('ends a session left idle, by the hub clock', async () => {
    const cookie = await session(s);
    s.clock.advance(IDLE_MS - 1000);
    expect((await fetch(`${s.base}/console/api/fleet`, { headers: { cookie } })).status).toBe(200);
    s.clock.advance(IDLE_MS);
    expect((await fetch(`${s.base}/console/api/fleet`, { headers: { cookie } })).status).toBe(401);
  });

  it('ends the sessions of a revoked token, and at sign-out', async () => {
    const made = s.running.hub.credentials.createAdminToken('operator', 'temp');
    const cookie = await session(s, made.secret);
    expect((await fetch(`${s.base}/console/api/fleet`, { headers: { cookie } })).status).toBe(200);
    s.running.hub.credentials.revokeAdminToken(made.id);
    expect((await fetch(`${s.base}/console/api/fleet`, { headers: { cookie } })).status).toBe(401);

    const other = await session(s);
    const out = await fetch(`${s.base}/console/api/sign-out`, {
      method: 'POST',
      headers: { cookie: other, origin: s.base },
    });
    expect(out.status).toBe(200);
    expect(out.headers.get('set-cookie')).toMatch(/Max-Age=0/);
    expect((await fetch(`${s.base}/console/api/fleet`, { headers: { cookie: other } })).status).toBe(401);
  });

  it('streams a decision once the return is decided, and a store going offline', async () => {
    seedSale(s.running.hub, 'S1', 'RC-1', 2);
    const cookie = await session(s);
    const events = await readEvents(
      s,
      cookie,
      (ev) => ev.some((e) => e.event === 'decision') && ev.filter((e) => e.event === 'stores').length >= 3,
      () => {
        // the stream is open (its first message came): now a store connects, a return is decided, the store goes
        s.running.hub.presence.connected('S1', 'agent-1', s.clock.now());
        setTimeout(() => {
          askReturn(s.running.hub, 'S1', 'auth-live-1', 'RC-1', 1);
          s.running.hub.presence.disconnected('S1', s.clock.now());
        }, 50);
      },
    );
    const first = events[0]!;
    expect(first.event).toBe('stores');
    expect((first.data as { store: string }[]).map((r) => r.store)).toEqual(['S1', 'S2']);
    const decision = events.find((e) => e.event === 'decision')?.data;
    expect(decision).toMatchObject({ authorization: 'auth-live-1', store: 'S1', register: 'R1', decision: 'approved' });
    const s1 = events
      .filter((e) => e.event === 'stores')
      .slice(1)
      .flatMap((e) => e.data as { store: string; connected: boolean }[])
      .filter((r) => r.store === 'S1');
    expect(s1.at(0)?.connected).toBe(true);
    expect(s1.at(-1)?.connected).toBe(false);
    // the recent decisions say it too
    const recent = await fetch(`${s.base}/console/api/decisions`, { headers: { cookie } });
    const list = ((await recent.json()) as { decisions: { authorization: string }[] }).decisions;
    expect(list.map((d) => d.authorization)).toContain('auth-live-1');
  });
  it('reads the timeline, and streams it again once a return is decided', async () => {
    expect((await fetch(`${s.base}/console/api/timeline`)).status).toBe(401);
    const hub = s.running.hub;
    seedSale(hub, 'S1', 'RC-TL', 2);
    const cookie = await session(s);
    const res = await fetch(`${s.base}/console/api/timeline`, { headers: { cookie } });
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('no-store');
    const before = (await res.json()) as Timeline;
    expect(before.minutes).toHaveLength(30);
    expect(before.minutes.at(-1)).toBe(Math.floor(s.clock.now() / 60_000) * 60);
    const decidedBefore = before.online.reduce((a, b) => a + b, 0);
    const events = await readEvents(
      s,
      cookie,
      (ev) => ev.filter((e) => e.event === 'timeline').length >= 2,
      () => void hub.engine.authorize('S1', askBody('auth-tl-1', 'RC-TL'), () => 12),
    );
    const [first, next] = events.filter((e) => e.event === 'timeline').map((e) => e.data as Timeline);
    expect(first?.online.reduce((a, b) => a + b, 0)).toBe(decidedBefore);
    expect(next?.online.reduce((a, b) => a + b, 0)).toBe(decidedBefore + 1);
    expect(next?.decisionP99.at(-1)).toBe(12);
    expect(next?.successRate.at(-1)).not.toBeNull();
    const decision = events.find((e) => e.event === 'decision')?.data;
    expect(decision).toMatchObject({ authorization: 'auth-tl-1', latencyMs: 12 });
  });

  it("reads a store's page: its registers (one down), latest sales and decisions, open exceptions", async () => {
    const hub = s.running.hub;
    seedSale(hub, 'S2', 'RC-20', 2);
    askReturn(hub, 'S2', 'auth-s2-1', 'RC-20', 1);
    const at = new Date(s.clock.now()).toISOString();
    const tcp = { transport: 'tcp 127.0.0.1:9100', at };
    hub.terminals.record('S2', { register: 'R1', codec: 'jsonl', state: 'connected', connections: 1, ...tcp });
    hub.terminals.record('S2', { ...connectedScanner(at), codec: 'hid-pos' });
    hub.terminals.record('S2', {
      register: 'R2',
      state: 'listening',
      connections: 0,
      detail: 'connection closed by the register',
      reported: { state: 'paper-out', at },
      ...tcp,
    });
    const open = hub.exceptions.record({ store: 'S2', kind: 'event', code: 'invalid', reason: 'a bad sale' });
    const done = hub.exceptions.record({ store: 'S2', kind: 'event', code: 'invalid', reason: 'settled' });
    s.running.hub.useCases.returns.resolveException('test', done, 'accept', 'settled by the test');
    const cookie = await session(s);
    const res = await fetch(`${s.base}/console/api/stores/S2`, { headers: { cookie } });
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('no-store');
    const page = (await res.json()) as StorePage;
    expect(page.store).toMatchObject({ store: 'S2', name: 'Harbour', connected: false, policyVersion: 0 });
    expect(page.terminals).toEqual([
      expect.objectContaining({
        register: 'R1',
        kind: 'register',
        codec: 'jsonl',
        feeds: null,
        up: true,
        state: 'connected',
        transport: 'tcp 127.0.0.1:9100',
      }),
      expect.objectContaining({
        register: 'R2',
        kind: 'register',
        codec: null, // an agent before protocol 5 does not say
        up: false,
        state: 'listening',
        detail: 'connection closed by the register',
        reported: { state: 'paper-out', detail: null, at },
      }),
      expect.objectContaining({
        register: 'SC1',
        kind: 'scanner',
        codec: 'hid-pos',
        feeds: 'R1',
        up: true,
        transport: 'hid://05e0:1200@/dev/hidraw3',
        lastMessageAt: at,
      }),
    ]);
    expect(page.sales.map((x) => [x.receipt, x.lines])).toEqual([['RC-20', 1]]);
    expect(page.decisions.map((d) => [d.authorization, d.store])).toEqual([['auth-s2-1', 'S2']]);
    expect(page.exceptions.map((e) => e.id)).toContain(open);
    expect(page.exceptions.map((e) => e.id)).not.toContain(done);
    expect(page.exceptions.every((e) => e.store === 'S2' && e.resolvedAt === null)).toBe(true);
    // another store's sales and decisions are not on this one's page
    const s1 = (await (await fetch(`${s.base}/console/api/stores/S1`, { headers: { cookie } })).json()) as StorePage;
    expect(s1.sales.every((x) => x.receipt !== 'RC-20')).toBe(true);
    expect(s1.decisions.every((d) => d.store === 'S1')).toBe(true);
    expect((await fetch(`${s.base}/console/api/stores/NOPE`, { headers: { cookie } })).status).toBe(404);
    expect((await fetch(`${s.base}/console/api/stores/S2`)).status).toBe(401);
    const write = await fetch(`${s.base}/console/api/stores/S2`, { method: 'DELETE', headers: { cookie } });
    expect(write.status).toBe(405);
  });
  it("streams a store's registers when its agent's report changes them", async () => {
    const cookie = await session(s);
    const at = new Date(s.clock.now() + 60_000).toISOString();
    const events = await readEvents(
      s,
      cookie,
      (ev) => ev.some((e) => e.event === 'terminals'),
      () => {
        s.running.hub.terminals.record('S2', {
          register: 'R1',
          state: 'disconnected',
          detail: 'no route to host',
          connections: 0,
          transport: 'tcp 127.0.0.1:9100',
          at,
        });
      },
    );
    const t = events.find((e) => e.event === 'terminals')?.data as { store: string; terminals: TerminalRow[] };
    expect(t.store).toBe('S2');
    expect(t.terminals.find((x) => x.register === 'R1')).toMatchObject({
      up: false,
      state: 'disconnected',
      detail: 'no route to host',
    });
  });

  it('pushes the open exceptions and the audit entries as they commit: raised, then settled', async () => {
    const hub = s.running.hub;
    const cookie = await session(s);
    let raised = '';
    let settled = false;
    const lists = (ev: { event: string; data: unknown }[]): ExceptionDetail[][] =>
      ev.filter((e) => e.event === 'exceptions').map((e) => e.data as ExceptionDetail[]);
    const audited = (ev: { event: string; data: unknown }[]): AuditRow[] =>
      ev.filter((e) => e.event === 'audit').flatMap((e) => e.data as AuditRow[]);
    const events = await readEvents(
      s,
      cookie,
      (ev) => {
        if (!settled && lists(ev).some((l) => l.some((x) => x.id === raised))) {
          settled = true;
          hub.useCases.returns.resolveException('admin:test', raised, 'accept', 'settled while watched');
        }
        return (
          settled &&
          lists(ev)
            .at(-1)
            ?.every((x) => x.id !== raised) === true &&
          audited(ev).some((a) => a.resource === `exception:${raised}`)
        );
      },
      () => {
        raised = hub.storage.tx(() =>
          hub.exceptions.record({ store: 'S2', register: 'R1', kind: 'event', code: 'invalid', reason: 'pushed' }),
        );
      },
    );
    const first = lists(events).find((l) => l.some((x) => x.id === raised));
    expect(first?.find((x) => x.id === raised)).toMatchObject({ store: 'S2', code: 'invalid', reason: 'pushed' });
    const entry = audited(events).find((a) => a.resource === `exception:${raised}`);
    expect(entry).toMatchObject({ action: 'exception.resolve', outcome: 'accept', actor: 'admin:test' });
    // the audit entries come newest first, and the chain is not walked for them (no verify on the stream)
    const ids = audited(events).map((a) => a.id);
    expect(ids).toEqual([...new Set(ids)]);
    expect(events.some((e) => e.event === 'audit' && 'verify' in (e.data as object))).toBe(false);
  });

  it('reads open exceptions with their detail; the audit tail, the chain verified, the checkpoint', async () => {
    const hub = s.running.hub;
    const id = hub.exceptions.record({
      store: 'S1',
      register: 'R1',
      kind: 'day.close',
      code: 'day_discrepancy',
      reason: 'the day does not add up',
      body: { businessDay: '2026-11-27', differences: [{ sku: 'A', qty: 1 }] },
    });
    const cookie = await session(s);
    const get = async <T>(path: string): Promise<T> => {
      const res = await fetch(`${s.base}/console/api/${path}`, { headers: { cookie } });
      expect(res.status, path).toBe(200);
      return (await res.json()) as T;
    };
    const { exceptions } = await get<{ exceptions: ExceptionDetail[] }>('exceptions');
    expect(exceptions[0]).toMatchObject({
      id,
      store: 'S1',
      register: 'R1',
      code: 'day_discrepancy',
      detail: { businessDay: '2026-11-27', differences: [{ sku: 'A', qty: 1 }] },
      ticket: null,
    });
    expect(exceptions.every((e) => e.resolvedAt === null)).toBe(true);

    const before = await get<AuditView>('audit');
    expect(before.verify).toMatchObject({ ok: true });
    expect(before.checkpoint).toBeNull();
    const ids = before.tail.map((e) => e.id);
    expect(ids).toEqual([...ids].sort((a, b) => b - a)); // newest first
    expect(before.tail.map((e) => e.action)).toContain('exception.resolve');
    const signed = hub.useCases.audit.checkpoint('test');
    const after = await get<AuditView>('audit');
    expect(after.checkpoint).toMatchObject({ seq: 1, fingerprint: expect.any(String) as string });
    expect(after.checkpoint?.fingerprint).toBe(signed.fingerprint);
    hub.storage.db.prepare(`UPDATE audit SET outcome = 'tampered' WHERE id = ?`).run(ids.at(-1));
    const broken = await get<AuditView>('audit');
    expect(broken.verify).toMatchObject({ ok: false, firstBad: ids.at(-1) });
    for (const path of ['exceptions', 'audit']) {
      expect((await fetch(`${s.base}/console/api/${path}`)).status, path).toBe(401);
      expect((await fetch(`${s.base}/console/api/${path}`, { method: 'POST', headers: { cookie } })).status).toBe(405);
    }
  });
});

describe.skipIf(pgUnavailable() !== undefined)('the console of one hub process among many (PostgreSQL)', () => {
  it('sends the registers an agent reports to another process, at the refresh after its heartbeat', async () => {
    const db = createTestDatabase();
    databases.push(db);
    const clock = new TestClock();
    const dirA = mkdtempSync(join(tmpdir(), 'tb-console-a-'));
    const dirB = mkdtempSync(join(tmpdir(), 'tb-console-b-'));
    dirs.push(dirA, dirB);
    const { adminToken } = initHub(dirA, silent, clock, db.url);
    copyFileSync(secretPath(dirA), secretPath(dirB));
    copyFileSync(signingKeyPath(dirA), signingKeyPath(dirB));
    const hubOn = (dataDir: string, console?: { host: string; port: number; live: object }): Promise<RunningHub> =>
      startHub({
        dataDir,
        host: '127.0.0.1',
        port: 0,
        log: silent,
        clock,
        database: db.url,
        processes: { heartbeatMs: 100, timeoutMs: 5000 },
        ...(console ? { console } : {}),
      });
    const a = await hubOn(dirA, { host: '127.0.0.1', port: 0, live: { flushMs: 10, refreshMs: 100 } });
    const b = await hubOn(dirB);
    hubs.push(b, a);
    b.hub.stores.create('S1', 'Quay');
    const ws = new WebSocket(new URL(AGENT_WS_PATH, b.wsUrl).toString(), {
      headers: { authorization: `Bearer ${await agentToken(b.hub, 'S1')}` },
    });
    const agent = agentSocket(ws);
    await new Promise((resolve) => ws.once('open', resolve));
    agent.send(wireHello('ag-1'));
    await agent.next('welcome');
    const at = (s: number): string => new Date(clock.now() + s * 1000).toISOString();
    const report = (connected: number, s: number): void => {
      agent.send({
        t: 'terminal',
        items: [
          {
            register: 'R1',
            codec: 'jsonl',
            state: connected ? 'connected' : 'listening',
            transport: 'tcp://0.0.0.0:9100',
            connections: connected,
            at: at(s),
          },
        ],
      });
      agent.send({
        t: 'heartbeat',
        outboxDepth: 0,
        oldestAgeMs: 0,
        registers: [{ id: 'R1', connected }],
        policyVersion: 0,
        configVersion: 0,
      });
    };
    report(1, 1);
    const started: Started = {
      running: a,
      base: a.console?.url.replace(/\/console\/$/, '') ?? '',
      clock,
      operator: a.hub.credentials.createAdminToken('operator', 'night desk').secret,
      admin: adminToken,
    };
    const cookie = await session(started);
    // the first report has reached process A (its store row says the register is connected)
    await waitFor(
      'the register connected, seen from A',
      () => a.hub.presence.get('S1').registers?.[0]?.connected === 1,
    );
    const events = await readEvents(
      started,
      cookie,
      (ev) =>
        ev.some(
          (e) =>
            e.event === 'terminals' &&
            (e.data as { terminals: TerminalRow[] }).terminals.some((t) => t.register === 'R1' && !t.up),
        ),
      () => report(0, 2), // the register unplugged, reported to process B
    );
    const sent = events.filter((e) => e.event === 'terminals').at(-1)?.data as {
      store: string;
      terminals: TerminalRow[];
    };
    expect(sent.store).toBe('S1');
    expect(sent.terminals).toEqual([
      expect.objectContaining({ register: 'R1', kind: 'register', codec: 'jsonl', up: false, state: 'listening' }),
    ]);
    ws.terminate();
  });
});

describe('the console over TLS', () => {
  it('sets a Secure, __Host- cookie and HSTS', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tb-console-tls-'));
    dirs.push(dir);
    const certs = writeDevCerts(dir, ['127.0.0.1', 'localhost'], []);
    const s = await start({ certFile: certs.serverCert, keyFile: certs.serverKey });
    expect(s.base).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    const { status, headers } = await new Promise<{ status: number; headers: Record<string, unknown> }>((ok, no) => {
      const req = httpsRequest(
        `${s.base}/console/api/sign-in`,
        {
          method: 'POST',
          ca: [readFileSync(certs.caCert, 'utf8')],
          headers: { 'content-type': 'application/json', origin: s.base },
        },
        (res) => {
          res.resume();
          ok({ status: res.statusCode ?? 0, headers: res.headers });
        },
      );
      req.on('error', no);
      req.end(JSON.stringify({ token: s.operator }));
    });
    expect(status).toBe(200);
    const cookie = String((headers['set-cookie'] as string[] | undefined)?.[0]);
    expect(cookie).toMatch(/^__Host-tb_console=[A-Za-z0-9_-]{43}; Path=\/; /);
    expect(cookie).toMatch(/; Secure(;|$)/);
    expect(cookie).toMatch(/; HttpOnly;/);
    expect(cookie).toMatch(/; SameSite=Strict/);
    expect(headers['strict-transport-security']).toBe('max-age=31536000');
  });
});

describe('the console options of serve', () => {
  const listen = { host: '127.0.0.1', port: 7400 };
  it('is off unless --console is given', () => {
    expect(consoleSettings({ listen })).toBeUndefined();
  });

  it.each([
    [{ console: 'nowhere' }, /^--console: expected HOST:PORT/],
    [{ console: '127.0.0.1:7400' }, /^--console: 127\.0\.0\.1:7400 is --listen's address/],
    [{ console: '0.0.0.0:7401' }, /^--console: refusing plain HTTP on 0\.0\.0\.0:7401/],
    [{ console: '127.0.0.1:7401', consoleTlsCert: 'c.pem' }, /^--console-tls-cert and --console-tls-key go together/],
    [{ consoleTlsCert: 'c.pem', consoleTlsKey: 'k.pem' }, /need --console HOST:PORT/],
  ])('refuses %j, naming the option', (flags, message) => {
    expect(() => consoleSettings({ listen, ...flags })).toThrow(message);
  });

  it("takes --tls-cert's certificate unless given its own, and plain HTTP beyond loopback with --insecure", () => {
    expect(consoleSettings({ listen, console: ':7401', tlsCert: 'h.pem', tlsKey: 'hk.pem' })).toEqual({
      host: '127.0.0.1',
      port: 7401,
      tls: { certFile: 'h.pem', keyFile: 'hk.pem' },
    });
    const own = { consoleTlsCert: 'c.pem', consoleTlsKey: 'k.pem', tlsCert: 'h.pem', tlsKey: 'hk.pem' };
    expect(consoleSettings({ listen, console: '0.0.0.0:7401', ...own })?.tls).toEqual({
      certFile: 'c.pem',
      keyFile: 'k.pem',
    });
    expect(consoleSettings({ listen, console: '0.0.0.0:7401', insecure: true })).toEqual({
      host: '0.0.0.0',
      port: 7401,
    });
  });

  it('makes serve exit non-zero naming the option', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tb-console-cli-'));
    dirs.push(dir);
    initHub(join(dir, 'hub'), silent);
    const r = await runCommand(
      process.execPath,
      [HUB_BIN, 'serve', '--data', join(dir, 'hub'), '--listen', '127.0.0.1:0', '--console', 'nowhere'],
      { TILLBRIDGE_HUB_DATABASE: '' },
    );
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--console: expected HOST:PORT, got "nowhere"/);
    const env = await runCommand(
      process.execPath,
      [HUB_BIN, 'serve', '--data', join(dir, 'hub'), '--listen', '127.0.0.1:0'],
      { TILLBRIDGE_HUB_DATABASE: '', TILLBRIDGE_HUB_CONSOLE: '10.1.2.3:7401' },
    );
    expect(env.code).toBe(2);
    expect(env.stderr).toMatch(/--console: refusing plain HTTP on 10\.1\.2\.3:7401/);
  });
});
