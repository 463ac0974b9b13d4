import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { AGENT_WS_PATH, type WireEvent } from '@tillbridge/shared';
import { createTestDatabase, testBackend, type TestDatabase } from '@tillbridge/scripts/lib/pg-test-db';
import { initHub, startHub, type RunningHub } from '../src/hub.js';
import type { IngestOptions } from '../src/sync/ingest-queue.js';
import {
  agentToken,
  poisonSalesInsert,
  column,
  scalar,
  seedSale,
  silent,
  storeIds,
  TestClock,
  wireHello,
  wireSale,
} from './helpers.js';
import { wsText } from '../../test/support/ws.js';
import { agentSocket, authorizeRequest, type AgentSocket, type Frame } from './agent-socket.js';

/**
 * Group commit of the agents' event batches, over real WebSockets and a real hub (SQLite, or
 * PostgreSQL with TILLBRIDGE_TEST_BACKEND=postgres): batches that arrive together are committed in
 * one synced commit, each in its own savepoint; every batch is acked once, only after its commit;
 * a batch that fails is nacked and leaves nothing while the others of its commit stand; a return
 * authorization does not wait behind the queue. The queue is held through its test seam
 * (`beforeFlush`) while frames arrive, so waits end on counts and frames, never on elapsed time.
 */

let dir: string | undefined;
let db: TestDatabase | undefined;
let running: RunningHub | undefined;
const open: WebSocket[] = [];
/** every frame any agent received, in the order they arrived: [store, frame] */
let heard: [string, Frame][] = [];

/** Holds the queue's flushes while armed. */
class Gate {
  private release: (() => void) | undefined;
  private held: Promise<void> | undefined;
  arm(): void {
    this.held = new Promise((r) => (this.release = r));
  }
  open(): void {
    this.release?.();
    this.held = undefined;
  }
  readonly hook = (): Promise<void> | undefined => this.held;
}
const gate = new Gate();

async function start(stores: string[], ingest: Omit<IngestOptions, 'beforeFlush'> = {}): Promise<RunningHub> {
  dir = mkdtempSync(join(tmpdir(), 'tb-ingest-'));
  db = testBackend() === 'postgres' ? createTestDatabase() : undefined;
  const clock = new TestClock();
  initHub(dir, silent, clock, db?.url);
  running = await startHub({
    dataDir: dir,
    database: db?.url,
    host: '127.0.0.1',
    port: 0,
    log: silent,
    clock,
    ingest: { ...ingest, beforeFlush: gate.hook },
  });
  running.hub.storage.deferred.stop(); // presence and last-seen writes: only when the test says
  for (const s of stores) running.hub.stores.create(s, s);
  return running;
}

afterEach(async () => {
  gate.open();
  for (const ws of open.splice(0)) ws.terminate();
  await running?.stop();
  db?.drop();
  if (dir) rmSync(dir, { recursive: true, force: true });
  running = undefined;
  dir = undefined;
  db = undefined;
  heard = [];
});

type Agent = AgentSocket & { store: string };

/** A store's agent over a real WebSocket, welcomed. */
async function agent(store: string): Promise<Agent> {
  const token = await agentToken(running!.hub, store);
  const ws = new WebSocket(new URL(AGENT_WS_PATH, running!.wsUrl).toString(), {
    headers: { authorization: `Bearer ${token}` },
  });
  open.push(ws);
  ws.on('message', (data) => heard.push([store, JSON.parse(wsText(data)) as Frame]));
  const a: Agent = { ...agentSocket(ws), store };
  await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
  a.send(wireHello(`agent-${store}`));
  await a.next('welcome');
  return a;
}

/** Starts the hub with `stores` and connects each store's agent, welcomed. */
async function startWithAgents(stores: string[], ingest: Omit<IngestOptions, 'beforeFlush'> = {}): Promise<Agent[]> {
  await start(stores, ingest);
  return Promise.all(stores.map(agent));
}

/** `n` sales of store `store` from seq `from`, receipts `${store}-${seq}`. */
const sales = (store: string, from: number, n: number): WireEvent[] =>
  Array.from({ length: n }, (_, i) => wireSale(from + i, `${store}-e${from + i}`, `${store}-${from + i}`));

/** Resolves once the hub's queue holds `batches` batches (the frames were read and queued). */
async function queued(batches: number): Promise<void> {
  for (let turn = 0; running!.hub.ingest.depth().batches < batches; turn++) {
    // each turn of the event loop reads what has arrived; a queue that never fills is a failure, not a hang
    if (turn > 100_000)
      throw new Error(`the hub queued ${running!.hub.ingest.depth().batches} batches, expected ${batches}`);
    await new Promise((r) => setImmediate(r));
  }
}

const storedReceipts = (): string[] =>
  column(running!.hub.storage.db, `SELECT receipt FROM sales ORDER BY receipt`) as string[];
const fullCommits = (): number => running!.hub.storage.commits().full;
const isReply = (f: Frame): boolean => f.t === 'ack' || f.t === 'nack';

describe("group commit of agents' event batches", () => {
  it(
    'commits the batches of many agents that arrive together in one synced commit, and acks each exactly once after ' +
      'it',
    async () => {
      const agents = await startWithAgents(storeIds(12));
      gate.arm();
      for (const a of agents) a.send({ t: 'events', items: sales(a.store, 1, 5) });
      await queued(agents.length);
      const before = fullCommits();
      // held: nothing stored, nothing acknowledged
      expect(storedReceipts()).toEqual([]);
      expect(heard.filter(([, f]) => isReply(f))).toEqual([]);
      // when an ack arrives, its batch is committed: the agent could act on it
      const committedAtAck: boolean[] = [];
      for (const a of agents) {
        void a
          .next('ack')
          .then(() => committedAtAck.push(storedReceipts().includes(`${a.store}-5`) && fullCommits() > before));
      }
      gate.open();
      const acks = await Promise.all(agents.map((a) => a.next(isReply)));
      expect(acks.map((f) => f.t)).toEqual(agents.map(() => 'ack'));
      expect(acks.map((f) => f.upTo)).toEqual(agents.map(() => 5));
      expect(fullCommits() - before).toBe(1); // 12 batches, one synced commit
      expect(running!.hub.ingest.flushCount).toBe(1);
      expect(storedReceipts()).toHaveLength(12 * 5);
      expect(committedAtAck).toEqual(agents.map(() => true));
      // a second round, one batch each: still one reply per batch sent
      gate.arm();
      for (const a of agents) a.send({ t: 'events', items: sales(a.store, 6, 5) });
      await queued(agents.length);
      gate.open();
      await Promise.all(agents.map((a) => a.next((f) => isReply(f) && f.upTo === 10)));
      // the hub answers a lookup after the agent's events: every reply to them was sent before it
      await Promise.all(
        agents.map(async (a) => {
          a.send({ t: 'req', rid: 1, op: 'receipt.lookup', body: { receipt: 'NONE', after: 10 } });
          await a.next('res', (f) => f.rid === 1);
          expect(
            a.frames.filter(isReply).map((f) => `${f.t}:${String(f.upTo)}`),
            a.store,
          ).toEqual(['ack:5', 'ack:10']);
        }),
      );
      expect(fullCommits() - before).toBe(2);
      expect(running!.hub.cursors.cursor('agent-S7')).toEqual({ store: 'S7', incarnation: 'i1', lastSeq: 10 });
      expect(running!.hub.auditTrail.verify().ok).toBe(true);
    },
  );

  it(
    'nacks a batch that fails and stores nothing of it, while the other batches of the same commit are acked and ' +
      'stored',
    async () => {
      await start(['S1', 'S2', 'S3', 'S4']);
      const hub = running!.hub;
      poisonSalesInsert(hub.storage.db, hub.storage.engine);
      const [a1, a2, a3, a4] = await Promise.all(['S1', 'S2', 'S3', 'S4'].map(agent));
      gate.arm();
      // S2's batch fails halfway: its first sale must go with it. It goes first in the commit: the
      // announcements of the batches after it must not go with its savepoint
      a2!.send({
        t: 'events',
        items: [wireSale(1, 'S2-e1', 'S2-1'), wireSale(2, 'S2-e2', 'POISON'), wireSale(3, 'S2-e3', 'S2-3')],
      });
      await queued(1);
      a1!.send({ t: 'events', items: sales('S1', 1, 3) });
      // S3's batch holds an event the hub refuses (a permanent refusal: acked, kept as an exception)
      a3!.send({
        t: 'events',
        items: [wireSale(1, 'S3-e1', 'S3-1'), { ...wireSale(2, 'S3-e2', 'S3-bad'), body: { receipt: 'S3-bad' } }],
      });
      a4!.send({ t: 'events', items: sales('S4', 1, 3) });
      await queued(4);
      const before = fullCommits();
      gate.open();
      const [r1, r2, r3, r4] = await Promise.all([a1, a2, a3, a4].map((a) => a!.next(isReply)));
      expect(r2).toMatchObject({ t: 'nack', seq: 1, code: 'TB_STORAGE_BUSY' });
      expect([r1, r3, r4].map((f) => [f!.t, f!.upTo])).toEqual([
        ['ack', 3],
        ['ack', 2],
        ['ack', 3],
      ]);
      expect((r3!.results as { outcome: string }[]).map((x) => x.outcome)).toEqual(['applied', 'exception']);
      expect(fullCommits() - before).toBe(1);
      expect(storedReceipts()).toEqual(['S1-1', 'S1-2', 'S1-3', 'S3-1', 'S4-1', 'S4-2', 'S4-3']);
      expect(hub.cursors.cursor('agent-S2')).toEqual({ store: 'S2', incarnation: 'i1', lastSeq: 0 });
      expect(hub.cursors.wasApplied('S2-e1')).toBe(false);
      // the stores whose sales committed are sent their new quantity (before the ack on SQLite; on
      // PostgreSQL it comes through the bus's LISTEN connection, maybe just after); S2's sale was
      // rolled back: if anything, it hears its quantity unchanged
      const pushes = (a: Agent) => a.frames.filter((f) => f.t === 'inventory' && f.full === false).map((f) => f.items);
      if (hub.storage.engine === 'postgres')
        await Promise.all([a1, a4].map((a) => a!.next('inventory', (f) => f.full === false)));
      expect(pushes(a1!)).toEqual([[{ sku: 'A', onHand: -3 }]]);
      expect(pushes(a4!)).toEqual([[{ sku: 'A', onHand: -3 }]]);
      expect(pushes(a2!).flat()).not.toContainEqual({ sku: 'A', onHand: -1 });
      // the failure was counted (the event is set aside after repeated ones), in the same commit
      expect(scalar(hub.storage.db, `SELECT attempts FROM event_attempts WHERE event_id = ?`, 'S2-e2')).toBe(1);
      // the refusal's audit entry names the agent whose frame it was, not the one whose frame started the flush
      expect(column(hub.storage.db, `SELECT origin FROM audit WHERE action = 'sale.refused'`)).toEqual([
        'agent:agent-S3',
      ]);
      expect(hub.auditTrail.verify().ok).toBe(true);
      // the agent sends the batch again (the poison gone): it applies, acked once
      hub.storage.db.exec(`DROP TRIGGER boom${hub.storage.engine === 'postgres' ? ' ON sales' : ''}`);
      a2!.send({
        t: 'events',
        items: [wireSale(1, 'S2-e1', 'S2-1'), wireSale(2, 'S2-e2', 'POISON'), wireSale(3, 'S2-e3', 'S2-3')],
      });
      expect(await a2!.next('ack')).toMatchObject({
        upTo: 3,
        results: [{ outcome: 'applied' }, { outcome: 'applied' }, { outcome: 'applied' }],
      });
      expect(a2!.frames.filter(isReply).map((f) => f.t)).toEqual(['nack', 'ack']);
    },
  );

  it('answers a return authorization sent behind a large queued ingest before the queue drains', async () => {
    const stores = storeIds(30);
    // one batch per commit: the queue takes 30 flushes to drain
    await start([...stores, 'R'], { maxRows: 10 });
    seedSale(running!.hub, 'R', 'RET-1', 5);
    const returner = await agent('R');
    const agents = await Promise.all(stores.map(agent));
    const authorize = (rid: number): void => returner.send(authorizeRequest(rid, 'RET-1', rid));
    gate.arm();
    for (const a of agents) a.send({ t: 'events', items: sales(a.store, 1, 10) });
    await queued(agents.length);
    // with the whole ingest queued (and held), the authorization is answered at once
    authorize(1);
    expect(await returner.next('res', (f) => f.rid === 1)).toMatchObject({
      ok: true,
      body: { decision: 'approved' },
    });
    expect(heard.filter(([, f]) => isReply(f))).toEqual([]);
    // released: 30 flushes to go; an authorization sent now waits at most for the one running
    gate.open();
    authorize(2);
    await Promise.all(agents.map((a) => a.next(isReply)));
    await returner.next('res', (f) => f.rid === 2);
    const order = heard
      .filter(([, f]) => isReply(f) || (f.t === 'res' && f.rid === 2))
      .map(([s, f]) => (f.t === 'res' ? 'authz' : s));
    const acksBefore = order.indexOf('authz');
    expect(order.filter((s) => s !== 'authz')).toHaveLength(30);
    expect(acksBefore).toBeGreaterThanOrEqual(0);
    expect(acksBefore).toBeLessThan(30); // not behind the whole queue
    // behind the flush running when it was read, and what the test's own reading order adds
    expect(acksBefore).toBeLessThanOrEqual(3);
    expect(heard.find(([, f]) => f.t === 'res' && f.rid === 2)![1]).toMatchObject({
      ok: true,
      body: { decision: 'approved' },
    });
    expect(running!.hub.ingest.flushCount).toBe(30);
    expect(storedReceipts()).toHaveLength(301);
  });

  it('takes no more events in one commit than maxRows; a larger batch goes in parts, acked once', async () => {
    const agents = await startWithAgents(['S1', 'S2', 'S3', 'S4'], { maxRows: 10 });
    gate.arm();
    agents[0]!.send({ t: 'events', items: sales('S1', 1, 4) });
    agents[1]!.send({ t: 'events', items: sales('S2', 1, 4) });
    await queued(2);
    agents[2]!.send({ t: 'events', items: sales('S3', 1, 12) }); // larger than maxRows: 10, then 2
    await queued(4);
    agents[3]!.send({ t: 'events', items: sales('S4', 1, 6) });
    await queued(5);
    expect(running!.hub.ingest.depth()).toEqual({ batches: 5, rows: 26 });
    const before = fullCommits();
    gate.open();
    const [, , s3] = await Promise.all(agents.map((a) => a.next('ack')));
    // S1+S2 (8), S3's first part (10), its second part (2) with S4 (6)
    expect(running!.hub.ingest.flushCount).toBe(3);
    expect(fullCommits() - before).toBe(3);
    expect(s3!.upTo).toBe(12);
    expect((s3!.results as { seq: number; outcome: string }[]).map((r) => `${String(r.seq)}:${r.outcome}`)).toEqual(
      Array.from({ length: 12 }, (_, i) => `${String(i + 1)}:applied`),
    );
    expect(agents[2]!.frames.filter(isReply)).toHaveLength(1);
    expect(running!.hub.cursors.cursor('agent-S3')).toMatchObject({ lastSeq: 12 });
  });

  it('answers a return authorization between the parts of one large batch, and acks it after the last', async () => {
    await start(['S1', 'R'], { maxRows: 10 });
    seedSale(running!.hub, 'R', 'RET-1', 5);
    const returner = await agent('R');
    const big = await agent('S1');
    let flushesAtAnswer = -1;
    void returner.next('res', (f) => f.rid === 1).then(() => (flushesAtAnswer = running!.hub.ingest.flushCount));
    gate.arm();
    big.send({ t: 'events', items: sales('S1', 1, 300) }); // 30 parts, one commit each
    await queued(30);
    const before = fullCommits();
    gate.open();
    returner.send(authorizeRequest(1, 'RET-1', 1));
    const ack = await big.next('ack');
    expect(ack.upTo).toBe(300);
    expect(ack.results).toHaveLength(300);
    expect(fullCommits() - before).toBeGreaterThanOrEqual(30);
    expect(running!.hub.ingest.flushCount).toBe(30);
    // answered while the batch's parts were being applied, not after them all
    const order = heard.filter(([, f]) => isReply(f) || f.t === 'res').map(([s, f]) => `${s}:${f.t}`);
    expect(order).toEqual(['R:res', 'S1:ack']);
    expect(flushesAtAnswer).toBeGreaterThanOrEqual(0);
    expect(flushesAtAnswer).toBeLessThan(30);
    expect(storedReceipts()).toHaveLength(301);
  });

  it(
    'nacks a large batch whose later part fails, keeps its committed parts, applies nothing after the failure, and ' +
      'answers them as duplicates when the batch comes again',
    async () => {
      await start(['S1'], { maxRows: 10 }); // parts of 10: the poison in the second part
      const hub = running!.hub;
      poisonSalesInsert(hub.storage.db, hub.storage.engine);
      const a = await agent('S1');
      const batch = [...sales('S1', 1, 14), wireSale(15, 'S1-e15', 'POISON'), ...sales('S1', 16, 10)]; // 10 + 10 + 5
      gate.arm();
      a.send({ t: 'events', items: batch });
      await queued(3);
      gate.open();
      expect(await a.next(isReply)).toMatchObject({ t: 'nack', seq: 1, code: 'TB_STORAGE_BUSY' });
      // the first part stands; nothing of the failed part nor of the one after it
      await new Promise((r) => setImmediate(r));
      expect(hub.ingest.depth()).toEqual({ batches: 0, rows: 0 });
      expect(storedReceipts()).toEqual(Array.from({ length: 10 }, (_, i) => `S1-${String(i + 1)}`).sort());
      expect(hub.cursors.cursor('agent-S1')).toMatchObject({ lastSeq: 10 });
      expect(hub.cursors.wasApplied('S1-e16')).toBe(false);
      // sent again, the poison gone: the first part's events are duplicates, the rest applied; one ack
      hub.storage.db.exec(`DROP TRIGGER boom${hub.storage.engine === 'postgres' ? ' ON sales' : ''}`);
      a.send({ t: 'events', items: batch });
      const ack = await a.next('ack');
      expect(ack.upTo).toBe(25);
      const outcomes = (ack.results as { outcome: string }[]).map((r) => r.outcome);
      expect(outcomes.slice(0, 10)).toEqual(Array(10).fill('duplicate'));
      expect(outcomes.slice(10)).toEqual(Array(15).fill('applied'));
      expect(storedReceipts()).toHaveLength(25);
      expect(hub.auditTrail.verify().ok).toBe(true);
    },
  );
});
