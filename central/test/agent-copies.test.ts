import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Socket } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { AGENT_WS_PATH, CloseCodes, type WireEvent } from '@tillbridge/shared';
import { initHub, type RunningHub } from '../src/hub.js';
import { agentToken, listeningHub, silent, wireHello, wireSale, column } from './helpers.js';
import { agentSocket, type AgentSocket } from './agent-socket.js';

/**
 * DESIGN rule 9 at the agents' endpoint, over real WebSockets: a database behind the hub, a forked
 * history, a second live copy of one agent — and a reconnect whose old socket is gone, which is
 * none of these.
 */

let dir: string;
let running: RunningHub;
let token: string;
const open: WebSocket[] = [];

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'tb-copies-'));
  initHub(dir, silent);
  running = await listeningHub(dir, { agentProbeMs: 2000 });
  running.hub.stores.create('S1', 'S1');
  token = await agentToken(running.hub, 'S1');
});
afterEach(async () => {
  for (const ws of open.splice(0)) ws.terminate();
  await running.stop();
  rmSync(dir, { recursive: true, force: true });
});

type Agent = AgentSocket;

function connect(): Promise<Agent> {
  const url = new URL(AGENT_WS_PATH, running.wsUrl).toString();
  const ws = new WebSocket(url, { headers: { authorization: `Bearer ${token}` } });
  open.push(ws);
  const agent = agentSocket(ws);
  return new Promise((resolve, reject) => {
    ws.once('error', reject);
    ws.once('open', () => resolve(agent));
  });
}

async function hello(agent: string, incarnation: string, newest: number): Promise<Agent> {
  const a = await connect();
  a.send(wireHello(agent, { incarnation, newest }));
  return a;
}

const sale = wireSale;

/** agent-a's first database (incarnation i1): it sends `items`, has them acked, and hangs up. */
async function firstHistory(items: WireEvent[]): Promise<void> {
  const a = await hello('agent-a', 'i1', 0);
  await a.next('welcome');
  a.send({ t: 'events', items });
  await a.next('ack');
  a.ws.close();
  await a.closed;
}

const audit = (action: string) =>
  column(running.hub.storage.db, `SELECT details FROM audit WHERE action = ? ORDER BY id`, action) as string[];
const exceptions = (code: string) => running.hub.exceptions.forStore('S1').filter((e) => e.code === code);
const receipts = () => column(running.hub.storage.db, `SELECT receipt FROM sales ORDER BY receipt`);

describe("agents endpoint: copies of an agent's database (DESIGN rule 9)", () => {
  it(
    'refuses a second live copy of an agent with 4010, audits it and keeps one exception while it is open; the ' +
      'first copy carries on',
    async () => {
      const first = await hello('agent-a', 'i1', 0);
      await first.next('welcome');
      const second = await hello('agent-a', 'i1', 0);
      expect(await second.closed).toMatchObject({
        code: CloseCodes.DUPLICATE_AGENT,
        reason: expect.stringMatching(/another copy of this agent/),
      });
      expect(second.frames.map((f) => f.t)).not.toContain('welcome');
      const third = await hello('agent-a', 'i1', 0); // it keeps trying
      expect((await third.closed).code).toBe(CloseCodes.DUPLICATE_AGENT);

      expect(audit('agent.duplicate')).toHaveLength(1);
      const flagged = exceptions('duplicate_agent');
      expect(flagged).toHaveLength(1);
      expect(flagged[0]).toMatchObject({
        kind: 'agent',
        reason: expect.stringMatching(/another copy of agent agent-a/),
      });

      first.send({ t: 'events', items: [sale(1, 'e1', 'A1')] });
      expect(await first.next('ack')).toMatchObject({ upTo: 1, results: [{ outcome: 'applied' }] });
      expect(running.hub.presence.get('S1')).toMatchObject({ connected: true, agentId: 'agent-a' });

      // once the operator settled it, a copy refused again is flagged again
      running.hub.resolution.resolve(flagged[0]!.id, 'accept', 'retired the second PC', 'admin:test');
      const fourth = await hello('agent-a', 'i1', 1);
      expect((await fourth.closed).code).toBe(CloseCodes.DUPLICATE_AGENT);
      expect(exceptions('duplicate_agent')).toHaveLength(2);
      expect(running.hub.auditTrail.verify().ok).toBe(true);
    },
  );

  it('takes a reconnect whose old socket no longer answers for the agent itself, not for a copy', async () => {
    const before = await hello('agent-a', 'i1', 0);
    await before.next('welcome');
    // the network dropped under the old connection: the hub still holds it, but nothing answers on it
    (before.ws as unknown as { _socket: Socket })._socket.pause();
    const after = await hello('agent-a', 'i1', 0);
    await after.next('welcome');
    expect(exceptions('duplicate_agent')).toEqual([]);
    after.send({ t: 'events', items: [sale(1, 'e1', 'A1')] });
    expect(await after.next('ack')).toMatchObject({ upTo: 1 });
  });

  it('replaces the connection of another agent of the same store (a new install), as before', async () => {
    const old = await hello('agent-a', 'i1', 0);
    await old.next('welcome');
    const fresh = await hello('agent-b', 'j1', 0);
    await fresh.next('welcome');
    expect((await old.closed).code).toBe(CloseCodes.REPLACED);
    expect(exceptions('duplicate_agent')).toEqual([]);
  });

  it(
    "tells a database behind its incarnation's cursor to start a new one (4011), " + 'then takes its events by id',
    async () => {
      await firstHistory([sale(1, 'e1', 'A1'), sale(2, 'e2', 'A2'), sale(3, 'e3', 'A3')]);

      // put back from a copy taken after seq 2, with e2 not yet confirmed then
      const restored = await hello('agent-a', 'i1', 2);
      expect(await restored.closed).toMatchObject({
        code: CloseCodes.NEW_INCARNATION,
        reason: expect.stringMatching(/behind/),
      });
      expect(audit('agent.restored').map((d) => JSON.parse(d) as unknown)).toEqual([
        { incarnation: 'i1', newest: 2, applied: 3 },
      ]);

      const renewed = await hello('agent-a', 'i2', 2);
      expect(await renewed.next('welcome')).toMatchObject({ lastSeq: 0 });
      renewed.send({ t: 'events', items: [sale(2, 'e2', 'A2'), sale(3, 'n3', 'N3')] });
      expect(await renewed.next('ack')).toMatchObject({
        upTo: 3,
        results: [{ outcome: 'duplicate' }, { outcome: 'applied' }],
      });
      expect(receipts()).toEqual(['A1', 'A2', 'A3', 'N3']);
      expect(exceptions('agent_forked')).toEqual([]);
    },
  );

  it(
    'closes a forked history with 4011, flags it, ' + 'applies none of it — and takes it all under the new incarnation',
    async () => {
      await firstHistory([sale(1, 'e1', 'A1'), sale(2, 'e2', 'A2')]);

      // a copy taken after seq 1 that sold three times before it came back: not behind (3 ≥ 2)
      const copy = await hello('agent-a', 'i1', 4);
      expect(await copy.next('welcome')).toMatchObject({ lastSeq: 2 });
      const items = [sale(2, 'x2', 'B2'), sale(3, 'x3', 'B3'), sale(4, 'x4', 'B4')];
      copy.send({ t: 'events', items });
      expect(await copy.closed).toMatchObject({
        code: CloseCodes.NEW_INCARNATION,
        reason: expect.stringMatching(/forked at seq 2/),
      });
      expect(copy.frames.map((f) => f.t)).not.toContain('ack');
      expect(receipts()).toEqual(['A1', 'A2']);
      expect(exceptions('agent_forked')).toHaveLength(1);
      expect(exceptions('agent_forked')[0]!.reason).toMatch(/x2 as seq 2/);
      expect(audit('agent.forked')).toHaveLength(1);

      const renewed = await hello('agent-a', 'i2', 4);
      await renewed.next('welcome');
      renewed.send({ t: 'events', items });
      expect(await renewed.next('ack')).toMatchObject({
        upTo: 4,
        results: [{ outcome: 'applied' }, { outcome: 'applied' }, { outcome: 'applied' }],
      });
      expect(receipts()).toEqual(['A1', 'A2', 'B2', 'B3', 'B4']);
    },
  );

  it('answers an agent too old for the hub with what to install (protocol-versions.test.ts has the rest)', async () => {
    const a = await connect();
    a.send({ t: 'hello', v: 1, agent: 'agent-a', software: 'tillbridge-agent/0.0.9' });
    expect(await a.closed).toMatchObject({
      code: CloseCodes.PROTOCOL_VERSION,
      reason: expect.stringMatching(/^this hub needs tillbridge-agent >= \S+ \(protocol >= 2\); install it/),
    });
  });
});
