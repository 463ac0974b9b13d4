import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AGENT_WS_PATH, type Clock } from '@tillbridge/shared';
import { initHub, type RunningHub } from '../src/hub.js';
import { decisionOf, DECISION_TYPES } from '../src/console/fleet.js';
import { agentSocket, authorizeRequest } from './agent-socket.js';
import { listeningHub, seedSale, silent, TestClock, wireHello } from './helpers.js';
import { askReturn } from './returns-support.js';

// An online decision's latency at the hub (docs/console.md): from the authorize request's arrival at the agent's
// session to the decision, read on the elapsed-time clock the hub is given (here one that moves 7.5 ms a reading).

/** Elapsed time that moves `step` ms each time it is read: the arrival, then the decision. */
function steppingClock(step: number): Clock {
  let t = 1000;
  return { now: () => (t += step) };
}

let dir: string;
let running: RunningHub;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'tb-latency-'));
  const clock = new TestClock();
  initHub(join(dir, 'hub'), silent, clock);
  running = await listeningHub(join(dir, 'hub'), { clock, elapsed: steppingClock(7.5) });
});

afterAll(async () => {
  await running.stop();
  rmSync(dir, { recursive: true, force: true });
});

const decisions = () => running.hub.erpFeed.read(0, 100, { types: DECISION_TYPES }).entries.map(decisionOf);

describe('decision latency', () => {
  it("puts an online decision's latency, request arrival to decision, on its feed entry", async () => {
    const hub = running.hub;
    seedSale(hub, 'S1', 'RC-LAT', 2);
    const apiKey = hub.credentials.createApiKey('S1');
    const token = await hub.tokens.issue('S1', hub.credentials.checkApiKey('S1', apiKey).keyId);
    const ws = new WebSocket(`${running.wsUrl}${AGENT_WS_PATH}`, { headers: { authorization: `Bearer ${token}` } });
    const agent = agentSocket(ws);
    await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
    agent.send(wireHello('agent-S1'));
    await agent.next('welcome');
    agent.send(authorizeRequest(1, 'RC-LAT', 'lat-1'));
    expect(await agent.next('res', (f) => f.rid === 1)).toMatchObject({ ok: true });
    ws.close();
    expect(decisions().find((d) => d.authorization === 'auth-lat-1')).toMatchObject({
      mode: 'online',
      decision: 'approved',
      latencyMs: 7.5,
    });
  });

  it('has none for a decision not measured (the engine asked directly, an offline decision)', () => {
    seedSale(running.hub, 'S1', 'RC-NOLAT', 2);
    askReturn(running.hub, 'S1', 'auth-nolat', 'RC-NOLAT', 1);
    expect(decisions().find((d) => d.authorization === 'auth-nolat')?.latencyMs).toBeNull();
  });
});
