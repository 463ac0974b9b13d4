import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { AGENT_WS_PATH, TOKEN_PATH, WIRE_VERSION, type WireEvent } from '@tillbridge/shared';
import { initHub, startHub, type RunningHub } from '../src/hub.js';
import { silent, TestClock, scalar, wireSale } from './helpers.js';
import { wsText } from '../../test/support/ws.js';

/**
 * Issue 10: what a connection and its heartbeats cost the hub in synced (fsynced) commits — only
 * what is owed to someone. Real sockets, the real handshake: the token request, the upgrade,
 * hello → welcome, the agent's terminal, heartbeat and inventory digest frames, the disconnect.
 */

const N = 20;
let dir: string;
let adminToken: string;
let clock: TestClock;
let running: RunningHub;
const open: WebSocket[] = [];
const apiKeys = new Map<string, string>();

async function start(): Promise<void> {
  running = await startHub({ dataDir: dir, host: '127.0.0.1', port: 0, log: silent, clock });
  running.hub.storage.deferred.stop(); // the test writes the batches itself (flush), when it says
}

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'tb-presence-'));
  clock = new TestClock();
  adminToken = initHub(dir, silent, clock).adminToken;
  await start();
  for (let i = 1; i <= N; i++) {
    running.hub.stores.create(`S${i}`, `S${i}`);
    apiKeys.set(`S${i}`, running.hub.credentials.createApiKey(`S${i}`));
  }
});
afterEach(async () => {
  for (const ws of open.splice(0)) ws.terminate();
  await running.stop();
  rmSync(dir, { recursive: true, force: true });
});

interface Frame {
  t: string;
  [k: string]: unknown;
}

/** A simulated agent of one store, speaking the wire protocol over a real socket. */
class SimAgent {
  token: string | undefined;
  ws!: WebSocket;
  private frames: Frame[] = [];
  private waiting: { match: (f: Frame) => boolean; resolve: (f: Frame) => void }[] = [];
  private rid = 0;

  constructor(
    readonly store: string,
    readonly agentId = `agent-${store}`,
    readonly incarnation = `inc-${store}`,
  ) {}

  async connect(newest = 0): Promise<Frame> {
    if (!this.token) {
      const res = await fetch(new URL(TOKEN_PATH, running.url), {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ store: this.store, apiKey: apiKeys.get(this.store) }),
      });
      expect(res.status).toBe(200);
      this.token = ((await res.json()) as { accessToken: string }).accessToken;
    }
    this.frames = [];
    this.ws = new WebSocket(new URL(AGENT_WS_PATH, running.wsUrl).toString(), {
      headers: { authorization: `Bearer ${this.token}` },
    });
    open.push(this.ws);
    this.ws.on('message', (data) => {
      const f = JSON.parse(wsText(data)) as Frame;
      this.frames.push(f);
      const i = this.waiting.findIndex((w) => w.match(f));
      if (i >= 0) this.waiting.splice(i, 1)[0]!.resolve(f);
    });
    await new Promise((resolve, reject) => this.ws.once('open', resolve).once('error', reject));
    this.send({
      t: 'hello',
      v: WIRE_VERSION,
      agent: this.agentId,
      incarnation: this.incarnation,
      newest,
      software: 'sim/1',
    });
    const welcome = await this.next((f) => f.t === 'welcome');
    await this.next((f) => f.t === 'inventory' && f.full === true);
    return welcome;
  }

  /** What a real agent sends once welcomed: each register's state, a heartbeat, its inventory digest. */
  announce(failed = 0): void {
    this.send({
      t: 'terminal',
      items: [
        {
          register: 'R1',
          state: 'listening',
          transport: 'tcp://127.0.0.1:9100',
          connections: 0,
          at: new Date(clock.now()).toISOString(),
        },
      ],
    });
    this.heartbeat(failed);
    this.send({ t: 'inventory.digest', items: [], upTo: 1 });
  }

  heartbeat(failed = 0): void {
    this.send({
      t: 'heartbeat',
      outboxDepth: 0,
      oldestAgeMs: 0,
      registers: [{ id: 'R1', connected: 0 }],
      policyVersion: 0,
      configVersion: 0,
      authz: { since: '2026-11-27T09:00:00Z', online: {}, offline: {}, lateOnline: 0, failed },
    });
  }

  /** Resolves once the hub has handled every frame sent before it (frames of a socket are handled in order). */
  async handled(): Promise<void> {
    const rid = ++this.rid;
    this.send({ t: 'req', rid, op: 'receipt.lookup', body: { receipt: 'NONE', after: 0 } });
    await this.next((f) => f.t === 'res' && f.rid === rid);
  }

  next(match: (f: Frame) => boolean): Promise<Frame> {
    const seen = this.frames.find(match);
    return seen ? Promise.resolve(seen) : new Promise((resolve) => this.waiting.push({ match, resolve }));
  }

  send(frame: unknown): void {
    this.ws.send(JSON.stringify(frame));
  }

  /** Closes, and resolves once the hub has seen the connection go. */
  async close(): Promise<void> {
    this.ws.close();
    await until(() => !running.hub.presence.get(this.store).connected);
  }
}

async function until(check: () => boolean): Promise<void> {
  for (let i = 0; !check(); i++) {
    if (i > 2000) throw new Error('the hub never got there');
    await new Promise((r) => setTimeout(r, 5));
  }
}

const commits = (): { full: number; normal: number } => running.hub.storage.commits();
const since = (before: { full: number; normal: number }): { full: number; normal: number } => {
  const now = commits();
  return { full: now.full - before.full, normal: now.normal - before.normal };
};

async function status(): Promise<{
  stores: {
    store: string;
    connected: boolean;
    lastSeen: string | null;
    inventoryAccuracy: unknown;
    authorizations: { failed: number };
    terminals: { register: string; state: string; at: string }[];
  }[];
}> {
  const res = await fetch(new URL('/v1/admin/status', running.url), {
    headers: { authorization: `Bearer ${adminToken}` },
  });
  expect(res.status).toBe(200);
  return (await res.json()) as Awaited<ReturnType<typeof status>>;
}

const sale = (seq: number, id: string): WireEvent => wireSale(seq, id, `R-${id}`);

describe('what connections and heartbeats cost in synced commits', () => {
  it(
    'N agents connecting for the first time: at most N synced commits (their cursors); again: none; M heartbeats: ' +
      'none, and one relaxed batch',
    async () => {
      const agents = Array.from({ length: N }, (_, i) => new SimAgent(`S${i + 1}`));
      await running.hub.storage.deferred.flush();

      // first connections: token, upgrade, hello, welcome, terminal + heartbeat + digest, disconnect
      let before = commits();
      for (const a of agents) {
        await a.connect();
        a.announce();
        await a.handled();
        await a.close();
      }
      // owed: each agent's cursor (it belongs to its store from now on), one commit each; nothing else
      expect(since(before).full).toBeLessThanOrEqual(N);
      expect(running.hub.cursors.cursor('agent-S1')).toMatchObject({ store: 'S1', lastSeq: 0 });

      // a reconnect storm: every agent again, all connected at once
      before = commits();
      await Promise.all(agents.map((a) => a.connect()));
      for (const a of agents) a.announce();
      await Promise.all(agents.map((a) => a.handled()));
      expect(since(before).full).toBe(0);

      // M heartbeats: no synced commit; the batch writes one row per agent and figure, in one transaction
      const M = 10;
      for (let beat = 1; beat <= M; beat++) {
        clock.advance(15_000);
        for (const a of agents) a.heartbeat(beat);
      }
      await Promise.all(agents.map((a) => a.handled()));
      expect(since(before).full).toBe(0);
      const waiting = running.hub.storage.deferred.waiting;
      expect(waiting).toBeLessThanOrEqual(running.hub.storage.deferred.maxRows);
      const flushed = commits();
      expect(await running.hub.storage.deferred.flush()).toBe(waiting);
      expect(since(flushed)).toEqual({ full: 0, normal: 1 });
      // a disconnect storm: nothing synced either
      await Promise.all(agents.map((a) => a.close()));
      expect(since(before).full).toBe(0);
    },
  );

  it(
    'status and the admin API show the same before and after the batch is written, and after a restart; the owed ' +
      'facts are intact',
    async () => {
      const a = new SimAgent('S1');
      const b = new SimAgent('S2');
      const rotated = running.hub.keys.rotate('S1', 3_600_000, 'admin:test');

      // S1: sells one event (owed), gets its rotated key (owed: delivered, then confirmed with its audit entry)
      let before = commits();
      await a.connect();
      const key = await a.next((f) => f.t === 'key');
      expect(key).toMatchObject({ id: rotated.id });
      expect(since(before).full).toBe(2); // its cursor; the key's delivery before it was sent
      before = commits();
      a.announce(3);
      a.send({ t: 'events', items: [sale(1, 'e1')] });
      await a.next((f) => f.t === 'ack');
      a.send({ t: 'key.ack', id: rotated.id });
      await a.handled();
      expect(since(before).full).toBe(2); // the events batch; the key's confirmation with its audit entry
      await b.connect();
      b.announce(1);
      await b.handled();
      clock.advance(60_000);
      await b.close();

      type View = Record<
        string,
        { lastSeen: string | null; inventoryAccuracy: unknown; failed: number; terminals: unknown[] }
      >;
      const view = async (): Promise<View> => {
        const st = await status();
        return Object.fromEntries(
          st.stores.map((s) => [
            s.store,
            {
              lastSeen: s.connected ? 'connected' : s.lastSeen,
              inventoryAccuracy: s.inventoryAccuracy,
              failed: s.authorizations.failed,
              terminals: s.terminals,
            },
          ]),
        );
      };
      const held = await view();
      expect(held.S1).toMatchObject({
        lastSeen: 'connected',
        failed: 3,
        inventoryAccuracy: { skus: 0, ratio: 1 },
        terminals: [{ register: 'R1', state: 'listening' }],
      });
      expect(held.S2).toMatchObject({
        lastSeen: new Date(clock.now()).toISOString(),
        failed: 1,
        inventoryAccuracy: { skus: 0, ratio: 1 },
        terminals: [{ register: 'R1', state: 'listening' }],
      });
      expect(held.S3).toEqual({ lastSeen: null, failed: 0, inventoryAccuracy: null, terminals: [] });
      const keys = running.hub.credentials.listKeys('S1');
      expect(keys.find((k) => k.id !== rotated.id)?.lastUsedAt).toBe(new Date(clock.now() - 60_000).toISOString());

      expect(running.hub.storage.deferred.waiting).toBeGreaterThan(0);
      await running.hub.storage.deferred.flush();
      expect(running.hub.storage.deferred.waiting).toBe(0);
      expect(await view()).toEqual(held);

      // a restart: what was written is what the hub shows; presence itself starts again from nothing
      clock.advance(60_000);
      await a.close();
      const s1Seen = new Date(clock.now()).toISOString();
      await running.stop();
      await start();
      expect(await view()).toEqual({ ...held, S1: { ...held.S1!, lastSeen: s1Seen } });
      expect(running.hub.credentials.listKeys('S1').find((k) => k.id === rotated.id)).toMatchObject({
        deliveredAt: expect.any(String),
        confirmedAt: expect.any(String),
      });
      expect(running.hub.auditTrail.verify().ok).toBe(true);
      expect(scalar(running.hub.storage.db, `SELECT COUNT(*) FROM audit WHERE action = 'key.confirm'`)).toBe(1);
      // the cursor survived: the agent is welcomed where it was, and its event is not applied twice
      const again = new SimAgent('S1');
      again.token = a.token;
      expect(await again.connect(1)).toMatchObject({ lastSeq: 1 });
      again.send({ t: 'events', items: [sale(1, 'e1')] });
      expect(await again.next((f) => f.t === 'ack')).toMatchObject({ upTo: 1, results: [{ outcome: 'duplicate' }] });
    },
  );
});
