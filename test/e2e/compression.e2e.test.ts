import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { AGENT_WS_PATH } from '@tillbridge/shared';
import { addStore, initHub, startHub, type HubHandle } from '@tillbridge/scripts/lib/cluster';

/**
 * `tillbridge-hub serve` and permessage-deflate on the agents' WebSocket: accepted by default, refused with
 * `--no-agent-compression` (the socket still opens, uncompressed). A real hub process, a real WebSocket.
 */

let hub: HubHandle | undefined;
let dir: string | undefined;
afterEach(async () => {
  await hub?.proc.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
  hub = undefined;
  dir = undefined;
});

describe('tillbridge-hub serve: compression of the agents WebSocket', () => {
  it.each([
    { args: [], negotiated: true },
    { args: ['--no-agent-compression'], negotiated: false },
  ])('serve $args → permessage-deflate negotiated: $negotiated', async (c) => {
    dir = mkdtempSync(join(tmpdir(), 'tb-deflate-e2e-'));
    const adminToken = await initHub(dir);
    hub = await startHub({ dataDir: dir, adminToken, extraArgs: c.args });
    const apiKey = await addStore(hub, 'S1');
    const r = await fetch(`${hub.url}/v1/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ store: 'S1', apiKey }),
    });
    const { accessToken } = (await r.json()) as { accessToken: string };
    const ws = new WebSocket(new URL(AGENT_WS_PATH, hub.wsUrl).toString(), {
      headers: { authorization: `Bearer ${accessToken}` },
      perMessageDeflate: { threshold: 0 },
    });
    await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
    const extensions = ws.extensions;
    ws.terminate();
    if (c.negotiated) expect(extensions).toMatch(/^permessage-deflate/);
    else expect(extensions).toBe('');
  });
});
