import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Socket } from 'node:net';
import { afterEach, expect, it } from 'vitest';
import WebSocket from 'ws';
import { AGENT_WS_PATH, CloseCodes } from '@tillbridge/shared';
import { initHub, startHub, type RunningHub } from '../src/hub.js';
import { secretPath } from '../src/auth/secrets.js';
import { openHubStorage } from '../src/storage/index.js';
import { inventoryMessages, MAX_PAYLOAD_BYTES, openBus, resendMessage, type BusMessage } from '../src/cluster/bus.js';
import {
  createTestDatabase,
  describePg,
  startThrowawayCluster,
  pgClusterSkipReason,
  type TestDatabase,
} from '../../test/support/pg.js';
import { waitFor } from '@tillbridge/scripts/lib/wait';
import { agentToken, silent, TestClock, wireDayClose, wireHello } from './helpers.js';
import { agentSocket, type AgentSocket } from './agent-socket.js';

/**
 * Many hub processes on one PostgreSQL database, in one test process: two `startHub` on the same
 * database behave as two `tillbridge-hub serve` (each its own storage connection, bus connection
 * and process id). Agents are real WebSockets. Waits poll or wait for frames; none compares
 * elapsed time.
 */

type Agent = AgentSocket;

let db: TestDatabase | undefined;
const dirs: string[] = [];
const hubs: RunningHub[] = [];
const sockets: WebSocket[] = [];

afterEach(async () => {
  for (const ws of sockets.splice(0)) ws.terminate();
  for (const h of hubs.splice(0)) await h.stop();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  await db?.drop();
  db = undefined;
});

/**
 * Two hub processes (A, B) on one fresh database, store S1 created through A (`token`: its agent
 * token); `clocks` lets a test move one process's time.
 */
async function twoHubs(
  opts: { probeMs?: number; timeoutMs?: number } = {},
): Promise<{ a: RunningHub; b: RunningHub; clockA: TestClock; clockB: TestClock; token: string }> {
  db = await createTestDatabase();
  const d1 = mkdtempSync(join(tmpdir(), 'tb-cluster-a-'));
  const d2 = mkdtempSync(join(tmpdir(), 'tb-cluster-b-'));
  dirs.push(d1, d2);
  initHub(d1, silent, new TestClock(), db.url);
  mkdirSync(d2, { recursive: true });
  copyFileSync(secretPath(d1), secretPath(d2));
  const clockA = new TestClock();
  const clockB = new TestClock();
  const common = {
    host: '127.0.0.1',
    port: 0,
    log: silent,
    database: db.url,
    agentProbeMs: opts.probeMs ?? 1000,
    processes: { heartbeatMs: 200, timeoutMs: opts.timeoutMs ?? 5000 },
  };
  const a = await startHub({ ...common, dataDir: d1, clock: clockA });
  hubs.push(a);
  const b = await startHub({ ...common, dataDir: d2, clock: clockB });
  hubs.push(b);
  return { a, b, clockA, clockB, token: await addStore(a, 'S1') };
}

async function addStore(hub: RunningHub, store: string): Promise<string> {
  hub.hub.stores.create(store, store);
  return agentToken(hub.hub, store);
}

async function connect(
  hub: RunningHub,
  token: string,
  agent: string,
  conn: { run?: string; attempt?: number } = {},
): Promise<Agent> {
  const ws = new WebSocket(new URL(AGENT_WS_PATH, hub.wsUrl).toString(), {
    headers: { authorization: `Bearer ${token}` },
  });
  sockets.push(ws);
  ws.on('error', () => undefined);
  const a = agentSocket(ws);
  await new Promise<void>((r, j) => {
    ws.once('open', () => r());
    ws.once('unexpected-response', (_req, res) => j(new Error(`upgrade refused: ${res.statusCode}`)));
  });
  a.send(wireHello(agent, conn));
  return a;
}

/** An agent connected as `connect` does, once the hub has welcomed it. */
async function welcomed(...args: Parameters<typeof connect>): Promise<Agent> {
  const a = await connect(...args);
  await a.next('welcome');
  return a;
}

/** Until `hub` reads that another process holds the store (its deferred batch written). */
async function seenElsewhere(hub: RunningHub, store: string, holder: RunningHub): Promise<void> {
  await waitFor(
    `${store} listed as held by the other process`,
    () => hub.hub.presence.get(store).process === holder.cluster.bus.processId,
  );
}

it('inventory messages: long SKU lists are cut to fit a NOTIFY, very long ones say "the store changed"', () => {
  const skus = Array.from({ length: 2000 }, (_, i) => `SKU-${String(i).padStart(6, '0')}`);
  const msgs = inventoryMessages('S1', skus);
  expect(msgs.length).toBeGreaterThan(1);
  for (const m of msgs) expect(Buffer.byteLength(JSON.stringify(m))).toBeLessThan(MAX_PAYLOAD_BYTES);
  expect(msgs.flatMap((m) => (m as Extract<BusMessage, { t: 'inventory' }>).skus)).toEqual(skus);
  const huge = inventoryMessages(
    'S1',
    Array.from({ length: 100_000 }, (_, i) => `SKU-${i}`),
  );
  expect(huge).toEqual([{ t: 'inventory', store: 'S1', skus: [], all: true }]);
});

it('resend messages: the lists of what is missing are cut to fit a NOTIFY', () => {
  const receipts = Array.from({ length: 5000 }, (_, i) => `RCPT-${String(i).padStart(8, '0')}`);
  const m = resendMessage({
    store: 'S1',
    register: 'R1',
    businessDay: '2026-11-27',
    missing: { receipts, authorizations: ['A1'] },
  }) as Extract<BusMessage, { t: 'resend' }>;
  expect(Buffer.byteLength(JSON.stringify(m))).toBeLessThan(MAX_PAYLOAD_BYTES);
  expect(m.missing.receipts.length).toBeGreaterThan(100);
  expect(m.missing.receipts).toEqual(receipts.slice(0, m.missing.receipts.length));
  expect(
    resendMessage({
      store: 'S1',
      register: 'R1',
      businessDay: '2026-11-27',
      missing: { receipts: ['X2'], authorizations: ['A1'] },
    }),
  ).toEqual({
    t: 'resend',
    store: 'S1',
    register: 'R1',
    businessDay: '2026-11-27',
    missing: { receipts: ['X2'], authorizations: ['A1'] },
  });
});

await describePg('many hub processes on one PostgreSQL database', () => {
  it('a register day reconciled through A that lacks a sale: the resend reaches the agent held by B', async () => {
    const { a, b, token } = await twoHubs();
    const agent = await welcomed(b, token, 'agent-1');
    a.hub.applier.applyBatch('S1', 'agent-1', 'i1', [
      wireDayClose(1, 'd1', {
        source: 'agent',
        sales: { count: 1, amount: 500 },
        tenders: [{ kind: 'cash', amount: 500 }],
        receipts: ['X1'],
      }),
    ]);
    expect(await agent.next('resend')).toEqual({
      t: 'resend',
      register: 'R1',
      businessDay: '2026-11-27',
      missing: { receipts: ['X1'], authorizations: [] },
    });
    expect(agent.frames.filter((f) => f.t === 'resend')).toHaveLength(1);
  });

  it(
    'a policy, sync settings, an inventory change and a key rotation made through A reach the agent held by B; a ' +
      'revoked key ends it',
    async () => {
      const { a, b, token } = await twoHubs();
      const agent = await welcomed(b, token, 'agent-1');

      const v = a.hub.policies.set('S1', { returnWindowDays: 12 }, 'admin:test');
      expect(await agent.next('policy', (f) => f.version === v)).toMatchObject({
        version: v,
        policy: { returnWindowDays: 12 },
      });

      const c = a.hub.syncConfig.set(undefined, { inventoryRefreshSeconds: 600 }, 'admin:test');
      expect(await agent.next('config', (f) => f.version === c)).toMatchObject({ version: c });

      a.hub.storage.tx(() => a.hub.ledger.setOnHand('S1', 'SKU-9', 7000, 'admin:test'));
      const fr = await agent.next('inventory', (f) => (f.items as { sku: string }[]).some((i) => i.sku === 'SKU-9'));
      expect(fr).toMatchObject({ full: false, items: [{ sku: 'SKU-9', onHand: 7 }] });

      const r = a.hub.keys.rotate('S1', 60_000, 'admin:test');
      expect(await agent.next('key')).toMatchObject({ id: r.id });

      const keyId = (
        b.hub.storage.db.prepare(`SELECT id FROM api_keys WHERE store = 'S1' AND id <> ?`).get(r.id) as { id: string }
      ).id;
      a.hub.keys.revoke('S1', keyId, 'admin:test');
      expect((await agent.closed).code).toBe(CloseCodes.UNAUTHORIZED);
    },
  );

  it(
    'what B missed while its bus was cut off is made up for when it listens again: a connection whose key was ' +
      "revoked ends, a store's new time zone dates its feed entries",
    async () => {
      const { a, b, token } = await twoHubs();
      const agent = await welcomed(b, token, 'agent-1');
      const feedDayAtB = (sku: string): string => {
        b.hub.useCases.inventory.setOnHand('admin:test', 'S1', sku, 1);
        const row = b.hub.storage.db
          .prepare(`SELECT business_day FROM feed WHERE store = 'S1' AND data LIKE ? ORDER BY position DESC LIMIT 1`)
          .get(`%"${sku}"%`) as { business_day: string } | undefined;
        if (!row) throw new Error(`no feed entry for ${sku}`);
        return row.business_day;
      };
      expect(feedDayAtB('ZONE-1')).toBe('2026-11-27'); // TestClock: 2026-11-27T10:00Z, zone UTC (and now cached at B)
      const keyId = (a.hub.storage.db.prepare(`SELECT id FROM api_keys WHERE store = 'S1'`).get() as { id: string }).id;

      // all in one turn of the event loop: the bus connections of this database end (and are gone before the call
      // returns), then A commits two changes whose messages no hub process hears
      a.hub.storage.db
        .prepare(
          `SELECT pg_terminate_backend(pid, 10000) FROM pg_stat_activity
           WHERE application_name = 'tillbridge-hub-bus' AND datname = current_database()`,
        )
        .all();
      a.hub.keys.revoke('S1', keyId, 'admin:test');
      a.hub.useCases.settings.setSyncSettings('admin:test', 'S1', { timeZone: 'Pacific/Kiritimati' }, {});

      // closed by B's catching up once it listens again (nothing else ends it: its token lives on)
      expect((await agent.closed).code).toBe(CloseCodes.UNAUTHORIZED);
      expect(feedDayAtB('ZONE-2')).toBe('2026-11-28'); // 10:00Z is midnight past in UTC+14
    },
  );

  it('a change inside a transaction that rolls back sends nothing; the one that commits arrives', async () => {
    const { a, b, token } = await twoHubs();
    const agent = await welcomed(b, token, 'agent-1');
    expect(() =>
      a.hub.storage.tx(() => {
        a.hub.ledger.setOnHand('S1', 'RB-1', 1000, 'admin:test');
        a.cluster.bus.publish({ t: 'inventory', store: 'S1', skus: ['RB-1'] });
        throw new Error('rolled back');
      }),
    ).toThrow('rolled back');
    a.hub.storage.tx(() => {
      a.hub.ledger.setOnHand('S1', 'OK-1', 2000, 'admin:test');
      a.cluster.bus.publish({ t: 'inventory', store: 'S1', skus: ['OK-1'] });
    });
    await agent.next('inventory', (f) => (f.items as { sku: string }[]).some((i) => i.sku === 'OK-1'));
    expect(
      agent.frames.filter((f) => f.t === 'inventory').flatMap((f) => (f.items as { sku: string }[]).map((i) => i.sku)),
    ).not.toContain('RB-1');
  });

  it(
    'status through A shows the store B holds; not once B closes it, nor once B stops being heard of (its heartbeat ' +
      'too old)',
    async () => {
      const { a, b, clockA, token } = await twoHubs({ timeoutMs: 5000 });
      await addStore(a, 'S2');
      const agent = await welcomed(b, token, 'agent-1');
      agent.send({ t: 'heartbeat', outboxDepth: 3, oldestAgeMs: 1500, registers: [{ id: 'R1', connected: 1 }] });
      await waitFor("B's heartbeat figures at A", () => a.hub.presence.get('S1').outboxDepth === 3);
      expect(a.hub.presence.get('S1')).toMatchObject({
        connected: true,
        agentId: 'agent-1',
        process: b.cluster.bus.processId,
        registers: [{ id: 'R1', connected: 1 }],
      });
      expect(a.hub.presence.count()).toBe(1);
      expect(a.hub.presence.get('S2').connected).toBe(false);
      // metrics stay each process's own: A holds nothing
      expect(a.hub.presence.countHere()).toBe(0);

      // B goes silent (as if killed): past the timeout by A's clock, its connections no longer count
      clockA.advance(6000);
      await waitFor('B no longer counted at A', () => !a.hub.presence.get('S1').connected);
      expect(a.hub.presence.count()).toBe(0);
      clockA.advance(-6000);
      await waitFor('B counted again', () => a.hub.presence.get('S1').connected);

      agent.ws.close();
      await agent.closed;
      await waitFor("S1 no longer held at A's view", () => !a.hub.presence.get('S1').connected);
    },
  );

  it(
    'an agent that moves from A to B and back (later attempts of one run) is served where it is, and its old ' +
      'connection is closed, not the new one',
    async () => {
      const { a, b, token } = await twoHubs();
      const onA = await welcomed(a, token, 'agent-1', { run: 'r1', attempt: 1 });
      const onB = await welcomed(b, token, 'agent-1', { run: 'r1', attempt: 2 });
      expect((await onA.closed).code).toBe(CloseCodes.REPLACED);
      await seenElsewhere(a, 'S1', b);

      const backOnA = await welcomed(a, token, 'agent-1', { run: 'r1', attempt: 3 });
      expect((await onB.closed).code).toBe(CloseCodes.REPLACED);
      // the new connection serves; the old one's going changed nothing for it
      const v = b.hub.policies.set('S1', { returnWindowDays: 9 }, 'admin:test');
      await backOnA.next('policy', (f) => f.version === v);
      expect(backOnA.isClosed()).toBe(false);
      await seenElsewhere(b, 'S1', a);
      expect(b.hub.presence.get('S1')).toMatchObject({ connected: true, process: a.cluster.bus.processId });
    },
  );

  it(
    'another agent of the store at B replaces the one at A; ' + 'a late hello of an earlier attempt at A is refused',
    async () => {
      const { a, b, token } = await twoHubs();
      const old = await welcomed(a, token, 'agent-old');
      const replacement = await welcomed(b, token, 'agent-new');
      expect((await old.closed).code).toBe(CloseCodes.REPLACED);

      const newer = await welcomed(b, token, 'agent-x', { run: 'r9', attempt: 5 });
      expect((await replacement.closed).code).toBe(CloseCodes.REPLACED);
      await seenElsewhere(a, 'S1', b);
      const late = await connect(a, token, 'agent-x', { run: 'r9', attempt: 4 });
      expect((await late.closed).code).toBe(CloseCodes.REPLACED);
      expect(newer.isClosed()).toBe(false);
    },
  );

  it(
    'a second live copy of the agent at B is refused (4010) while the one at A answers; one that no longer answers ' +
      'is dropped for the new one',
    async () => {
      const { a, b, token } = await twoHubs({ probeMs: 500 });
      const live = await welcomed(a, token, 'agent-1', { run: 'pc-1', attempt: 1 });
      await seenElsewhere(b, 'S1', a);

      const copy = await connect(b, token, 'agent-1', { run: 'pc-2', attempt: 1 });
      expect((await copy.closed).code).toBe(CloseCodes.DUPLICATE_AGENT);
      expect(live.isClosed()).toBe(false);
      expect(copy.frames.map((f) => f.t)).not.toContain('welcome');
      expect(
        a.hub.storage.db.prepare(`SELECT COUNT(*) AS n FROM audit WHERE action = 'agent.duplicate'`).get(),
      ).toEqual({
        n: 1,
      });

      // the agent restarted (a new run) while its old connection at A went silent (half-open)
      (live.ws as unknown as { _socket: Socket })._socket.pause();
      const restarted = await welcomed(b, token, 'agent-1', { run: 'pc-1b', attempt: 1 });
      expect(restarted.isClosed()).toBe(false);
      await waitFor('A dropped its silent connection', () => !a.hub.presence.here('S1').connected);
    },
  );
});

const clusterSkip = pgClusterSkipReason();
await describePg('the bus across a PostgreSQL restart', () => {
  it.skipIf(clusterSkip)('listens again by itself, says so, and hears what is published afterwards', async () => {
    const cluster = await startThrowawayCluster();
    const dir = mkdtempSync(join(tmpdir(), 'tb-bus-'));
    try {
      const url = new URL(cluster.url);
      url.pathname = '/postgres';
      const storage = openHubStorage(dir, { create: true, database: url.toString() });
      const bus = openBus(storage, silent, { backoff: { baseMs: 50, capMs: 300 } });
      await bus.ready;
      const heard: BusMessage[] = [];
      let resumed = 0;
      bus.subscribe((m) => heard.push(m));
      bus.onResume(() => resumed++);
      bus.publish({ t: 'policy', scope: 'before' });
      await waitFor('the first message', () => heard.length === 1);

      await cluster.restart();
      await waitFor('the bus listening again', () => resumed === 1 && bus.isListening);
      // the storage's own connection reconnects at the statement after the one that finds it broken
      await waitFor('a message published after the restart arrives', () => {
        try {
          storage.tx(() => bus.publish({ t: 'policy', scope: 'after' }));
        } catch {
          return false;
        }
        return heard.some((m) => m.t === 'policy' && m.scope === 'after');
      });
      await bus.close();
      storage.close();
    } finally {
      await cluster.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
