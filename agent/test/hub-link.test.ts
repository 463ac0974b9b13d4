import { afterEach, describe, expect, it } from 'vitest';
import { once } from 'node:events';
import { createLogger } from '@tillbridge/shared';
import { HubLink } from '../src/sync/hub-link.js';
import { StubHub } from './stub-hub.js';

const log = createLogger({ name: 'test', level: 'silent' });
/** The agent's clock in these tests: years from today, whatever the date. */
const T0 = Date.parse('2031-03-14T09:26:53.000Z');

function makeLink(hub: StubHub): HubLink {
  return new HubLink({ url: hub.wsUrl, store: 'S1', apiKey: () => 'tbk_test_key', agentId: 'agent-1', hello: () => ({ incarnation: 'inc-1', newest: 0 }), software: 'test', reconnectBaseMs: 20, reconnectCapMs: 100, pingMs: 10_000, log, now: () => T0 });
}

let hub: StubHub | undefined;
let abort: AbortController | undefined;
afterEach(async () => {
  abort?.abort();
  await hub?.close();
  hub = undefined;
  abort = undefined;
});

describe('HubLink: a failing handler of a hub frame', () => {
  it('is contained: logged, counted, the other listeners still run and the link keeps serving', async () => {
    hub = await new StubHub().start();
    const link = makeLink(hub);
    abort = new AbortController();
    const seen: string[] = [];
    link.on('inventory', () => {
      throw Object.assign(new Error('database or disk is full'), { code: 'SQLITE_FULL' });
    });
    link.on('inventory', (_full, items) => seen.push(items[0]!.sku));
    link.on('policy', (version) => seen.push(`policy ${version}`));
    const welcomed = once(link, 'welcome');
    link.start(abort.signal);
    await welcomed;
    const uncaught: unknown[] = [];
    const onUncaught = (err: unknown): void => void uncaught.push(err);
    process.on('uncaughtException', onUncaught);
    try {
      const policy = once(link, 'policy');
      hub.push({ t: 'inventory', full: true, items: [{ sku: 'A', onHand: 1 }], n: 1 });
      hub.push({ t: 'policy', version: 3, policy: {} });
      await policy;
    } finally {
      process.off('uncaughtException', onUncaught);
    }
    expect(uncaught).toEqual([]);
    expect(seen).toEqual(['A', 'policy 3']);
    expect(link.connected).toBe(true);
    const info = link.info();
    expect(info.frameFailures).toEqual({ inventory: 1 });
    expect(info.lastFrameError).toMatchObject({ frame: 'inventory', code: 'SQLITE_FULL', at: new Date(T0).toISOString() });
    expect(info.since).toBe(new Date(T0).toISOString());
    abort.abort();
    await link.stopped();
  });
});

describe('HubLink: stopping', () => {
  it('stops when the signal fires while the access token is being fetched, even if the token arrives afterwards', async () => {
    hub = await new StubHub().start();
    hub.tokenMode = 'hold';
    const link = makeLink(hub);
    abort = new AbortController();
    const asked = once(hub, 'token');
    link.start(abort.signal);
    await asked;
    abort.abort();
    hub.releaseTokens(); // the token comes back after the stop was asked for
    await link.stopped();
    expect(link.connected).toBe(false);
    expect(hub.sockets.size).toBe(0);
  });

  it('stops while the WebSocket upgrade is never answered', async () => {
    hub = await new StubHub().start();
    hub.upgradeMode = 'hang';
    const link = makeLink(hub);
    abort = new AbortController();
    const upgraded = once(hub, 'upgrade');
    link.start(abort.signal);
    await upgraded;
    abort.abort();
    await link.stopped();
    expect(link.connected).toBe(false);
  });

  it('stops while a token refresh hangs, closing the open connection', async () => {
    hub = await new StubHub().start();
    hub.tokenLifetimeSec = 1; // refreshed at 80 %: soon
    hub.holdToken = (n) => n >= 2;
    const link = makeLink(hub);
    abort = new AbortController();
    const refreshing = new Promise<void>((resolve) => hub!.on('token', (n) => n === 2 && resolve()));
    link.start(abort.signal);
    await refreshing;
    expect(link.connected).toBe(true);
    abort.abort();
    await link.stopped();
    expect(link.connected).toBe(false);
  });

  it('stops when the signal fires while it waits to reconnect', async () => {
    hub = await new StubHub().start();
    const url = hub.wsUrl;
    await hub.close(); // nothing listens there now
    hub = undefined;
    const link = new HubLink({ url, store: 'S1', apiKey: () => 'tbk_test_key', agentId: 'agent-1', hello: () => ({ incarnation: 'inc-1', newest: 0 }), software: 'test', reconnectBaseMs: 60_000, reconnectCapMs: 600_000, pingMs: 10_000, log });
    abort = new AbortController();
    link.start(abort.signal);
    // the first attempt failed: it sleeps (up to a minute) before the next
    while (link.info().lastError === undefined) await new Promise((r) => setTimeout(r, 10));
    abort.abort();
    await link.stopped();
  });

  it('stops when the signal had fired before it started', async () => {
    hub = await new StubHub().start();
    const link = makeLink(hub);
    abort = new AbortController();
    abort.abort();
    link.start(abort.signal);
    await link.stopped();
    expect(hub.tokenRequests).toBe(0);
  });
});
