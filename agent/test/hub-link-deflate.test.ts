import { afterEach, describe, expect, it } from 'vitest';
import type { IncomingMessage, Server } from 'node:http';
import { createLogger } from '@tillbridge/shared';
import { HubLink } from '../src/sync/hub-link.js';
import { StubHub } from './stub-hub.js';
import { testLinkOptions } from './support/link-options.js';

/**
 * The agent's offer of permessage-deflate, over a real WebSocket: made by default (every frame, a 1 KiB window),
 * not made when turned off; against a hub that does not accept it (the stub, like an older hub) the link still
 * connects and is welcomed, uncompressed. Whether a hub of this release accepts it: central's agent-compression test.
 */

const log = createLogger({ name: 'test', level: 'silent' });

let hub: StubHub | undefined;
let abort: AbortController | undefined;
afterEach(async () => {
  abort?.abort();
  await hub?.close();
  hub = undefined;
  abort = undefined;
});

describe('HubLink: permessage-deflate', () => {
  it.each([
    { compression: undefined, offered: true },
    { compression: true, offered: true },
    { compression: false, offered: false },
  ])('compression $compression → offered $offered; welcomed by a hub that does not accept it', async (c) => {
    hub = await new StubHub().start();
    const offers: (string | undefined)[] = [];
    (hub as unknown as { server: Server }).server.on('upgrade', (req: IncomingMessage) =>
      offers.push(req.headers['sec-websocket-extensions']),
    );
    const link = new HubLink({
      ...testLinkOptions(hub.wsUrl, log),
      ...(c.compression === undefined ? {} : { compression: c.compression }),
    });
    abort = new AbortController();
    const welcomed = link.events.next('welcome');
    link.start(abort.signal);
    await welcomed;
    expect(link.connected).toBe(true);
    expect(offers).toHaveLength(1);
    if (c.offered) {
      expect(offers[0]).toMatch(/^permessage-deflate/);
      expect(offers[0]).toContain('client_max_window_bits=10');
      expect(offers[0]).toContain('server_max_window_bits=10');
    } else expect(offers[0]).toBeUndefined();
  });
});
