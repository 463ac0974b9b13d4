import { describe, expect, it } from 'vitest';
import { CloseCodes, outgoingFrame, WIRE_VERSION } from '@tillbridge/shared';
import type { RunningHub } from '../src/hub.js';
import { agentSocket, type AgentSocket } from './agent-socket.js';
import { agentToken, wireHello, wireSale } from './helpers.js';
import { hubPerTest } from './hub-per-test.js';

/**
 * Compressed frames (protocol 4, shared/src/wire-compression.ts) over a real WebSocket to a real hub: a
 * deflated batch of events is applied and acknowledged like its text; a binary frame before the welcome,
 * or one that does not inflate, is a protocol error that names why.
 */
const hubs = hubPerTest();
let running: RunningHub | undefined;

async function connectedAgent(): Promise<AgentSocket> {
  running = await hubs.start('tb-deflate-');
  running.hub.stores.create('S1', 'S1');
  const ws = hubs.dial(await agentToken(running.hub, 'S1'));
  const agent = agentSocket(ws);
  await new Promise<void>((r) => ws.once('open', () => r()));
  return agent;
}

const salesFrame = (first: number, n: number): string =>
  JSON.stringify({
    t: 'events',
    items: Array.from({ length: n }, (_, i) =>
      wireSale(first + i, `e${first + i}`, `X${first + i}`, {
        amount: 500,
        tenders: [{ kind: 'cash', amount: 500 }],
        at: '2026-11-27T10:00:00Z',
      }),
    ),
  });

describe('compressed frames from an agent', () => {
  it('applies a deflated batch of events and acknowledges it', async () => {
    const a = await connectedAgent();
    a.send(wireHello('agent-1', { incarnation: 'inc-1', newest: 0 }));
    expect(await a.next('welcome')).toMatchObject({ v: WIRE_VERSION });
    const text = salesFrame(1, 3);
    const deflated = outgoingFrame(text, WIRE_VERSION);
    expect(Buffer.isBuffer(deflated)).toBe(true);
    a.ws.send(deflated);
    expect(await a.next('ack')).toMatchObject({ upTo: 3, results: [{ outcome: 'applied' }, {}, {}] });
    expect(running!.hub.sales.get('S1', 'X2')).toBeDefined();
    expect(a.isClosed()).toBe(false);
  });

  it('closes with a protocol error on a binary frame before the welcome', async () => {
    const a = await connectedAgent();
    a.ws.send(outgoingFrame(salesFrame(1, 3), WIRE_VERSION));
    expect(await a.closed).toMatchObject({ code: CloseCodes.PROTOCOL, reason: /after the welcome/ });
    expect(running!.hub.sales.get('S1', 'X1')).toBeUndefined();
  });

  it('closes with a protocol error on binary bytes that are not a compressed frame', async () => {
    const a = await connectedAgent();
    a.send(wireHello('agent-1', { incarnation: 'inc-1', newest: 0 }));
    await a.next('welcome');
    a.ws.send(Buffer.from([0xff, 0x00, 0x13, 0x37]));
    expect(await a.closed).toMatchObject({ code: CloseCodes.PROTOCOL, reason: /not a compressed frame/ });
  });
});
