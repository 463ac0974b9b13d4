import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { IncomingMessage } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { AGENT_WS_PATH, WIRE_VERSION } from '@tillbridge/shared';
import { initHub, type RunningHub } from '../src/hub.js';
import { AGENT_DEFLATE } from '../src/sync/agent-endpoint.js';
import { agentToken, listeningHub, silent, wireSale } from './helpers.js';
import { agentSocket } from './agent-socket.js';

/**
 * permessage-deflate on the agents' sockets, over real WebSockets: used when the hub accepts it and the
 * agent offers it, and otherwise not — an agent that does not offer it (an older one) still connects and
 * syncs uncompressed, as does any agent on a hub that has it turned off. No timing.
 */

let dir: string | undefined;
let running: RunningHub | undefined;
const open: WebSocket[] = [];

afterEach(async () => {
  for (const ws of open.splice(0)) ws.terminate();
  await running?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
  running = undefined;
  dir = undefined;
});

describe('agents endpoint: permessage-deflate', () => {
  it.each([
    { hub: 'default', offer: true, negotiated: true },
    { hub: 'default', offer: false, negotiated: false },
    { hub: 'off', offer: true, negotiated: false },
    { hub: 'off', offer: false, negotiated: false },
  ])('hub $hub, agent offers it: $offer → negotiated $negotiated, and a sale syncs', async (c) => {
    dir = mkdtempSync(join(tmpdir(), 'tb-deflate-'));
    initHub(dir, silent);
    running = await listeningHub(dir, c.hub === 'off' ? { agentCompression: false } : {});
    running.hub.stores.create('S1', 'S1');
    const token = await agentToken(running.hub, 'S1');

    const ws = new WebSocket(new URL(AGENT_WS_PATH, running.wsUrl).toString(), {
      headers: { authorization: `Bearer ${token}` },
      perMessageDeflate: c.offer ? AGENT_DEFLATE : false,
    });
    open.push(ws);
    const upgrade = new Promise<IncomingMessage>((resolve) => ws.once('upgrade', resolve));
    const a = agentSocket(ws);
    await new Promise((resolve) => ws.once('open', resolve));

    const answered = (await upgrade).headers['sec-websocket-extensions'];
    if (c.negotiated) {
      expect(ws.extensions).toMatch(/^permessage-deflate/);
      expect(answered).toMatch(/^permessage-deflate/);
    } else {
      expect(ws.extensions).toBe('');
      expect(answered).toBeUndefined();
    }

    a.send({ t: 'hello', v: WIRE_VERSION, agent: 'agent-a', incarnation: 'i1', newest: 0 });
    await a.next('welcome');
    a.send({ t: 'events', items: [wireSale(1, 'e-A1', 'A1')] });
    expect(await a.next('ack')).toMatchObject({ upTo: 1, results: [{ outcome: 'applied' }] });
  });
});
