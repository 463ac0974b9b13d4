import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { AGENT_WS_PATH, CloseCodes } from '@tillbridge/shared';
import { initHub, type RunningHub } from '../src/hub.js';
import type { HandshakeStep } from '../src/sync/agent-endpoint.js';
import { agentToken, listeningHub, silent, storeIds, wireHello, wireSale, column } from './helpers.js';
import { agentSocket, type AgentSocket } from './agent-socket.js';

/**
 * Handshakes an agent gave up, over real WebSockets: the hub holds a connection at a step of its
 * handshake (through the endpoint's seam, not a sleep) while the agent gives it up and its next
 * connection goes live, then lets it go on. The connection the agent uses must win: the one given
 * up is dropped where the hub sees it go, without a trace, or — still open, an earlier attempt of
 * the same run — refused quietly; a second live copy of the agent is still refused loudly (DESIGN
 * rule 9). Waits end on events and counts; none compares elapsed time.
 */

/** Holds, at one step, the next handshake of each store it was armed for, until released. */
class Hold {
  private readonly armed = new Map<
    string,
    { reach: () => void; reached: Promise<void>; release: () => void; released: Promise<void> }
  >();

  /** Holds the next handshake of `store` here; resolves once it waits. */
  arm(store: string): Promise<void> {
    let reach!: () => void;
    let release!: () => void;
    const reached = new Promise<void>((r) => (reach = r));
    const released = new Promise<void>((r) => (release = r));
    this.armed.set(store, { reach, reached, release, released });
    return reached;
  }

  /** The hook. */
  at(store: string): Promise<void> | undefined {
    const a = this.armed.get(store);
    if (!a) return undefined;
    this.armed.delete(store);
    this.held.push(a.release);
    a.reach();
    return a.released;
  }

  private readonly held: (() => void)[] = [];

  releaseAll(): void {
    for (const r of this.held.splice(0)) r();
    for (const a of this.armed.values()) a.release();
    this.armed.clear();
  }
}

type Agent = AgentSocket;

let dir: string | undefined;
let running: RunningHub | undefined;
const holds = { upgrade: new Hold(), hello: new Hold() };
const gaveUp: { store: string | undefined; step: HandshakeStep }[] = [];
let gaveUpWaiters: { n: number; resolve: () => void }[] = [];
const tokens = new Map<string, string>();
const open: WebSocket[] = [];

async function start(stores: string[], probeMs = 2000): Promise<RunningHub> {
  dir = mkdtempSync(join(tmpdir(), 'tb-handshake-'));
  initHub(dir, silent);
  running = await listeningHub(dir, {
    agentProbeMs: probeMs,
    agentHandshake: {
      upgrade: (store) => holds.upgrade.at(store),
      hello: (store) => holds.hello.at(store),
      gaveUp: (store, step) => {
        gaveUp.push({ store, step });
        for (const w of gaveUpWaiters.filter((x) => gaveUp.length >= x.n)) w.resolve();
        gaveUpWaiters = gaveUpWaiters.filter((x) => gaveUp.length < x.n);
      },
    },
  });
  const hub = running.hub;
  for (const s of stores) {
    hub.stores.create(s, s);
    tokens.set(s, await agentToken(hub, s));
  }
  return running;
}

afterEach(async () => {
  holds.upgrade.releaseAll();
  holds.hello.releaseAll();
  for (const ws of open.splice(0)) ws.terminate();
  await running?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
  running = undefined;
  dir = undefined;
  holds.upgrade = new Hold();
  holds.hello = new Hold();
  gaveUp.length = 0;
  gaveUpWaiters = [];
  tokens.clear();
});

/** Resolves once `n` handshakes in all were given up. */
function givenUp(n: number): Promise<void> {
  if (gaveUp.length >= n) return Promise.resolve();
  return new Promise((resolve) => gaveUpWaiters.push({ n, resolve }));
}

/** A WebSocket to the hub as store `store`, not awaited (its upgrade may be held). */
function dial(store: string): { ws: WebSocket; agent: Promise<Agent> } {
  const ws = new WebSocket(new URL(AGENT_WS_PATH, running!.wsUrl).toString(), {
    headers: { authorization: `Bearer ${tokens.get(store)!}` },
  });
  open.push(ws);
  ws.on('error', () => undefined); // a socket the test drops mid-upgrade
  const socket = agentSocket(ws);
  return { ws, agent: new Promise<Agent>((resolve) => ws.once('open', () => resolve(socket))) };
}

async function hello(store: string, agent: string, conn: { run?: string; attempt?: number } = {}): Promise<Agent> {
  const a = await dial(store).agent;
  a.send(wireHello(agent, conn));
  return a;
}

/** Drops the socket as an agent that gives a handshake up does, and waits until it is gone here. */
async function giveUp(ws: WebSocket): Promise<void> {
  const gone = new Promise<void>((r) => (ws.readyState === WebSocket.CLOSED ? r() : ws.once('close', () => r())));
  ws.terminate();
  await gone;
}

const sale = wireSale;

/** The connection is the hub's live one for its store: an event sent on it is applied and acked. */
async function serves(a: Agent, seq: number, receipt: string): Promise<void> {
  a.send({ t: 'events', items: [sale(seq, `e-${receipt}`, receipt)] });
  expect(await a.next('ack')).toMatchObject({ upTo: seq, results: [{ outcome: 'applied' }] });
}

/** A hello to `store` that the hub answers with its welcome: the store's live connection. */
async function welcomed(store: string, agent: string, conn: { run?: string; attempt?: number } = {}): Promise<Agent> {
  const a = await hello(store, agent, conn);
  await a.next('welcome');
  return a;
}

/** A hello to S1 that the hub holds before handling it (until the test releases the holds). */
async function heldHello(agent: string, conn: { run?: string; attempt?: number } = {}): Promise<Agent> {
  const held = holds.hello.arm('S1');
  const a = await hello('S1', agent, conn);
  await held;
  return a;
}

/** `live` still serves S1 (a sale of it applied), open, as the store's connected agent `agentId`. */
async function stillServes(live: Agent, agentId: string): Promise<void> {
  await serves(live, 1, 'A1');
  expect(live.isClosed()).toBe(false);
  expect(running!.hub.presence.get('S1')).toMatchObject({ connected: true, agentId });
}

const audit = (action: string) =>
  column(running!.hub.storage.db, `SELECT details FROM audit WHERE action = ?`, action) as string[];
const exceptions = (store: string, code: string) =>
  running!.hub.exceptions.forStore(store).filter((e) => e.code === code);
/** The agent closes the connection (a close frame) and reads nothing more: at the hub it is closing, not closed. */
function closeUnheard(a: Agent): void {
  a.ws.close(1000, 'giving up');
  pause(a);
}
const pause = (a: Agent) => (a.ws as unknown as { _socket: Socket })._socket.pause();
const resume = (a: Agent) => (a.ws as unknown as { _socket: Socket })._socket.resume();

/**
 * The `live` connection of agent `agentId` is busy (it reads nothing: a probe of it would go unanswered, and it
 * would be dropped) while the held hellos are released and `settled` waits until the hub has dealt with `held`.
 * Then it reads again: it still serves S1, `held` was sent nothing, and no duplicate agent was recorded.
 */
async function outlastsWhileBusy(
  live: Agent,
  agentId: string,
  held: Agent,
  settled: () => Promise<void>,
): Promise<void> {
  pause(live);
  holds.hello.releaseAll();
  await settled();
  resume(live);
  await stillServes(live, agentId);
  expect(held.frames.map((f) => f.t)).toEqual([]);
  expect(audit('agent.duplicate')).toEqual([]);
  expect(exceptions('S1', 'duplicate_agent')).toEqual([]);
}

describe('agents endpoint: a handshake the agent gave up', () => {
  it(
    'drops an upgrade whose agent hung up while its token was checked: no connection, nothing recorded; the next ' +
      'one is served',
    async () => {
      await start(['S1']);
      const held = holds.upgrade.arm('S1');
      const first = dial('S1');
      await held;
      await giveUp(first.ws); // the agent's handshake timeout
      await givenUp(1); // dropped as soon as the hub saw it go, though its token check is still held
      expect(gaveUp).toEqual([{ store: 'S1', step: 'upgrade' }]);
      const live = await welcomed('S1', 'agent-a', { run: 'r1', attempt: 2 });

      holds.upgrade.releaseAll();
      await stillServes(live, 'agent-a');
      expect(audit('agent.duplicate')).toEqual([]);
    },
  );

  it('takes a reset during the token check in its stride: no unhandled error, the upgrade dropped', async () => {
    await start(['S1']);
    const held = holds.upgrade.arm('S1');
    const first = dial('S1');
    await held;
    const raw = (first.ws as unknown as { _req: { socket: Socket } })._req.socket;
    const gone = new Promise((r) => raw.once('close', r));
    raw.resetAndDestroy(); // TCP RST, not FIN
    await gone;
    await givenUp(1);
    holds.upgrade.releaseAll();
    const live = await welcomed('S1', 'agent-a');
    await serves(live, 1, 'A1');
  });

  it('drops a hello whose agent hung up while it waited: at once when the socket closes', async () => {
    await start(['S1']);
    const first = await heldHello('agent-a', { run: 'r1', attempt: 1 });
    await giveUp(first.ws);
    await givenUp(1); // though its hello is still held
    expect(gaveUp).toEqual([{ store: 'S1', step: 'hello' }]);
    const live = await welcomed('S1', 'agent-a', { run: 'r1', attempt: 2 });
    holds.hello.releaseAll();
    await stillServes(live, 'agent-a');
  });

  it.each([
    ['an earlier hello of the live agent', 'agent-a', 'agent-a'],
    ['an abandoned hello of another agent of the store', 'agent-old', 'agent-new'],
  ])(
    'drops %s whose connection is closing when its turn comes, even when the live one is slow to answer: nothing ' +
      'is probed or replaced (no 4009 for the live one)',
    async (_what, heldAgent, liveAgent) => {
      await start(['S1']);
      // hellos that say nothing of their attempt (an agent of an earlier build): the socket alone tells
      const first = await heldHello(heldAgent);
      closeUnheard(first);
      const live = await welcomed('S1', liveAgent);

      await outlastsWhileBusy(live, liveAgent, first, () => givenUp(1));
      expect(gaveUp).toEqual([{ store: 'S1', step: 'hello' }]);
    },
  );

  it('leaves the live connection alone when the new one is given up while the live one is probed', async () => {
    await start(['S1'], 600_000); // the probe is still on when the new connection goes
    const live = await welcomed('S1', 'agent-a', { run: 'r1', attempt: 1 });
    pause(live); // slow to answer: the probe will find it silent
    const next = await heldHello('agent-a', { run: 'r2', attempt: 1 });
    holds.hello.releaseAll(); // its claim is decided now, before anything more is read: the probe starts
    await giveUp(next.ws);
    await givenUp(1);
    resume(live);
    expect(gaveUp).toEqual([{ store: 'S1', step: 'probe' }]);
    await stillServes(live, 'agent-a');
  });

  it(
    'refuses quietly (4009) a hello that comes late on an earlier attempt of the same run, still open: the live one ' +
      'is not probed',
    async () => {
      await start(['S1']);
      // its agent gave it up, but the hub never saw it go
      const stale = await heldHello('agent-a', { run: 'r1', attempt: 1 });
      const live = await welcomed('S1', 'agent-a', { run: 'r1', attempt: 2 });

      await outlastsWhileBusy(live, 'agent-a', stale, async () => {
        expect(await stale.closed).toMatchObject({
          code: CloseCodes.REPLACED,
          reason: expect.stringMatching(/newer connection of this agent/),
        });
      });
      expect(gaveUp).toEqual([]);
    },
  );

  it('refuses quietly an earlier attempt still being decided once the agent said hello on a later one', async () => {
    await start(['S1'], 600_000); // the probe ends when the old connection closes, not on time
    const previous = await welcomed('S1', 'agent-a', { run: 'r0', attempt: 1 }); // the agent before a restart
    pause(previous);
    let held = holds.hello.arm('S1');
    const first = await hello('S1', 'agent-a', { run: 'r1', attempt: 1 });
    await held;
    holds.hello.releaseAll(); // decided now: it probes the previous run's connection
    held = holds.hello.arm('S1');
    const second = await hello('S1', 'agent-a', { run: 'r1', attempt: 2 });
    await held; // the hub read the later hello; it waits behind the first
    holds.hello.releaseAll();
    await giveUp(previous.ws); // the probe ends: no answer

    expect(await first.closed).toMatchObject({ code: CloseCodes.REPLACED });
    await second.next('welcome');
    await serves(second, 1, 'A1');
    expect(exceptions('S1', 'duplicate_agent')).toEqual([]);
  });

  it('takes a later attempt of the same run over an old connection that no longer answers', async () => {
    await start(['S1']);
    const before = await welcomed('S1', 'agent-a', { run: 'r1', attempt: 1 });
    pause(before); // the network dropped under it
    const after = await welcomed('S1', 'agent-a', { run: 'r1', attempt: 2 });
    await serves(after, 1, 'A1');
    expect(exceptions('S1', 'duplicate_agent')).toEqual([]);
  });

  it(
    'still refuses a second live copy with 4010 — another run, or a later attempt of a run copied with its memory ' +
      '(a live VM clone)',
    async () => {
      await start(['S1']);
      const first = await welcomed('S1', 'agent-a', { run: 'r1', attempt: 3 });
      const other = await hello('S1', 'agent-a', { run: 'r2', attempt: 1 });
      expect((await other.closed).code).toBe(CloseCodes.DUPLICATE_AGENT);
      const clone = await hello('S1', 'agent-a', { run: 'r1', attempt: 4 });
      expect((await clone.closed).code).toBe(CloseCodes.DUPLICATE_AGENT);
      expect(audit('agent.duplicate')).toHaveLength(1);
      expect(exceptions('S1', 'duplicate_agent')).toHaveLength(1);
      await serves(first, 1, 'A1');
    },
  );

  it(
    'counts a pong that arrived before the probe ran out as an answer, ' +
      'even when the hub reads it late (a busy hub)',
    async () => {
      await start(['S1'], 50);
      const first = await welcomed('S1', 'agent-a', { run: 'r1', attempt: 1 });
      // the pong is sent as the ping is read; then this process (the hub's too) is busy past the probe's time
      first.ws.once('ping', () => {
        const until = performance.now() + 150;
        while (performance.now() < until);
      });
      const copy = await hello('S1', 'agent-a', { run: 'r2', attempt: 1 });
      expect((await copy.closed).code).toBe(CloseCodes.DUPLICATE_AGENT);
      await serves(first, 1, 'A1');
    },
  );
});

describe('agents endpoint: many agents giving up a slow handshake at once', () => {
  it(
    'evicts no live connection: 60 stores, each with one connection given up (at the upgrade or the hello) or left ' +
      'stale',
    async () => {
      const stores = storeIds(60);
      await start(stores);
      const kind = (i: number) => (['upgrade', 'hello', 'stale'] as const)[i % 3]!;
      const stale: Agent[] = [];
      // every store's first connection is held at its step
      await Promise.all(
        stores.map(async (s, i) => {
          if (kind(i) === 'upgrade') {
            const held = holds.upgrade.arm(s);
            const first = dial(s);
            await held;
            await giveUp(first.ws);
          } else {
            const held = holds.hello.arm(s);
            const first = await hello(s, `agent-${s}`, { run: 'r1', attempt: 1 });
            await held;
            if (kind(i) === 'hello') await giveUp(first.ws);
            else stale.push(first);
          }
        }),
      );
      // … and the agent's next connection goes live meanwhile
      const live = await Promise.all(stores.map((s) => welcomed(s, `agent-${s}`, { run: 'r1', attempt: 2 })));

      holds.upgrade.releaseAll();
      holds.hello.releaseAll();
      await givenUp(40);
      const staleCodes = await Promise.all(stale.map(async (a) => (await a.closed).code));
      expect(staleCodes).toEqual(Array(20).fill(CloseCodes.REPLACED));
      expect(gaveUp.filter((g) => g.step === 'upgrade')).toHaveLength(20);
      expect(gaveUp.filter((g) => g.step === 'hello')).toHaveLength(20);

      await Promise.all(live.map((a, i) => serves(a, 1, `R${i}`)));
      expect(live.filter((a) => a.isClosed())).toEqual([]);
      expect(running!.hub.presence.count()).toBe(60);
      expect(audit('agent.duplicate')).toEqual([]);
    },
  );
});

describe('agents endpoint: a request whose body the hub refuses', () => {
  it.each([
    ['authorize', { receipt: 'RC-1', lines: [], after: 0, extra: 1 }],
    // a line number twice (the register protocol refuses it; an agent that sent it anyway got the database's error)
    [
      'authorize',
      {
        authorization: 'auth-twice',
        register: 'R1',
        requestId: 'rq-twice',
        receipt: 'RC-1',
        after: 0,
        lines: [1, 1].map((line) => ({ line, qty: 1, disposition: 'restock' })),
      },
    ],
    ['override', { authorization: 'x' }],
    ['receipt.lookup', { receipt: 7, after: 0 }],
  ])('answers %s with TB_INVALID naming what is wrong in the body, and keeps the connection', async (op, body) => {
    await start(['S1']);
    const a = await welcomed('S1', 'agent-a');
    a.send({ t: 'req', rid: 41, op, body });
    const res = await a.next('res', (f) => f.rid === 41);
    expect(res).toMatchObject({ ok: false, code: 'TB_INVALID', message: expect.stringMatching(/^body/) });
    await serves(a, 1, 'A1');
  });
});
