import { afterEach, describe, expect, it } from 'vitest';
import { once } from 'node:events';
import { createServer, type AddressInfo, type Server } from 'node:net';
import type { WebSocket } from 'ws';
import { createLogger } from '@tillbridge/shared';
import { HubLink, type HubLinkOptions } from '../src/sync/hub-link.js';
import { StubHub } from './stub-hub.js';
import { stubHubsPerTest } from './support/stub-hubs.js';
import { testLinkOptions } from './support/link-options.js';

const log = createLogger({ name: 'test', level: 'silent' });
/** The agent's clock in these tests: years from today, whatever the date. */
const T0 = Date.parse('2031-03-14T09:26:53.000Z');

function makeLink(hub: StubHub, more: Partial<HubLinkOptions> = {}): HubLink {
  return new HubLink({ ...testLinkOptions(hub.wsUrl, log), now: () => T0, ...more });
}

const hubs = stubHubsPerTest();

describe('HubLink: a failing handler of a hub frame', () => {
  it('is contained: logged, counted, the other listeners still run and the link keeps serving', async () => {
    const hub = await hubs.start();
    const link = makeLink(hub);
    const abort = hubs.stopper();
    const seen: string[] = [];
    link.events.on('inventory', () => {
      throw Object.assign(new Error('database or disk is full'), { code: 'SQLITE_FULL' });
    });
    link.events.on('inventory', (_full, items) => seen.push(items[0]!.sku));
    link.events.on('policy', (version) => seen.push(`policy ${version}`));
    const welcomed = link.events.next('welcome');
    link.start(abort.signal);
    await welcomed;
    const uncaught: unknown[] = [];
    const onUncaught = (err: unknown): void => void uncaught.push(err);
    process.on('uncaughtException', onUncaught);
    try {
      const policy = link.events.next('policy');
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
    expect(info.lastFrameError).toMatchObject({
      frame: 'inventory',
      code: 'SQLITE_FULL',
      at: new Date(T0).toISOString(),
    });
    expect(info.since).toBe(new Date(T0).toISOString());
    abort.abort();
    await link.stopped();
  });
});

/**
 * Starts `link`, and once `reached` has resolved fires its stop signal; `whileStopping` runs right after the
 * signal. Resolves when the link has stopped.
 */
async function stopOnceReached(link: HubLink, reached: Promise<unknown>, whileStopping = (): void => undefined) {
  const abort = hubs.stopper();
  link.start(abort.signal);
  await reached;
  abort.abort();
  whileStopping();
  await link.stopped();
}

describe('HubLink: stopping', () => {
  it(
    'stops when the signal fires while the access token is being fetched, ' + 'even if the token arrives afterwards',
    async () => {
      const hub = await hubs.start();
      hub.tokenMode = 'hold';
      const link = makeLink(hub);
      const held = hub;
      // the token comes back after the stop was asked for
      await stopOnceReached(link, once(hub, 'token'), () => held.releaseTokens());
      expect(link.connected).toBe(false);
      expect(hub.sockets.size).toBe(0);
    },
  );

  it('stops while the WebSocket upgrade is never answered', async () => {
    const hub = await hubs.start();
    hub.upgradeMode = 'hang';
    const link = makeLink(hub);
    await stopOnceReached(link, once(hub, 'upgrade'));
    expect(link.connected).toBe(false);
  });

  it('stops while a token refresh hangs, closing the open connection', async () => {
    const hub = await hubs.start();
    hub.tokenLifetimeSec = 1; // refreshed at 80 %: soon
    hub.holdToken = (n) => n >= 2;
    const link = makeLink(hub);
    const abort = hubs.stopper();
    const refreshing = new Promise<void>((resolve) => hub.on('token', (n) => n === 2 && resolve()));
    link.start(abort.signal);
    await refreshing;
    expect(link.connected).toBe(true);
    abort.abort();
    await link.stopped();
    expect(link.connected).toBe(false);
  });

  it('stops when the signal fires while it waits to reconnect', async () => {
    const gone = await new StubHub().start();
    const url = gone.wsUrl;
    await gone.close(); // nothing listens there now
    const link = new HubLink({ ...testLinkOptions(url, log), reconnectBaseMs: 60_000, reconnectCapMs: 600_000 });
    const abort = hubs.stopper();
    link.start(abort.signal);
    // the first attempt failed: it sleeps (up to a minute) before the next
    while (link.info().lastError === undefined) await new Promise((r) => setTimeout(r, 10));
    abort.abort();
    await link.stopped();
  });

  it('stops when the signal had fired before it started', async () => {
    const hub = await hubs.start();
    const link = makeLink(hub);
    const abort = hubs.stopper();
    abort.abort();
    link.start(abort.signal);
    await link.stopped();
    expect(hub.tokenRequests).toBe(0);
  });
});

/** An endpoint that takes each TCP connection and drops it at once, noting it in `log` under `name`. */
class Refuser {
  private readonly server: Server;
  private port = 0;
  constructor(
    readonly name: string,
    private readonly log: string[],
  ) {
    this.server = createServer((s) => {
      this.log.push(this.name);
      s.destroy();
    });
  }
  get wsUrl(): string {
    return `ws://127.0.0.1:${this.port}`;
  }
  get count(): number {
    return this.log.filter((n) => n === this.name).length;
  }
  async start(): Promise<this> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.port = (this.server.address() as AddressInfo).port;
    return this;
  }
  close(): Promise<void> {
    return new Promise((r) => this.server.close(() => r()));
  }
}

describe('HubLink: several hub URLs', () => {
  let abort: AbortController | undefined;
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    abort?.abort();
    for (const c of cleanups.splice(0).reverse()) await c();
  });
  const stub = async (): Promise<StubHub> => {
    const s = await new StubHub().start();
    cleanups.push(() => s.close());
    return s;
  };
  const refuser = async (name: string, log: string[]): Promise<Refuser> => {
    const r = await new Refuser(name, log).start();
    cleanups.push(() => r.close());
    return r;
  };
  /** A link whose every backoff wait is an hour: whatever it reaches, it reaches without one. */
  const link = (urls: string[], more: Partial<HubLinkOptions> = {}): HubLink => {
    const l = new HubLink({
      ...testLinkOptions(urls, log),
      reconnectBaseMs: 3_600_000,
      reconnectCapMs: 3_600_000,
      random: () => 1,
      ...more,
    });
    abort = new AbortController();
    cleanups.push(() => l.stopped());
    return l;
  };

  it('goes on to the next hub at once when the first refuses, and asks that hub for its token', async () => {
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const deadUrl = `ws://127.0.0.1:${(closed.address() as AddressInfo).port}`;
    await new Promise<void>((r) => closed.close(() => r())); // nothing listens there now
    const hubB = await stub();
    const l = link([deadUrl, hubB.wsUrl]);
    const welcomed = l.events.next('welcome');
    l.start(abort!.signal);
    await welcomed;
    expect(l.info()).toMatchObject({ connected: true, url: hubB.wsUrl, urls: [deadUrl, hubB.wsUrl] });
    expect([hubB.tokenRequests, hubB.upgrades]).toEqual([1, 1]);
  });

  it('tries the hubs in turn while every one is down, backing off once per full round', async () => {
    const hits: string[] = [];
    const hubs = [await refuser('A', hits), await refuser('B', hits), await refuser('C', hits)];
    const waitsAfter: number[] = []; // how many attempts had been made at each backoff wait
    const l = link(
      hubs.map((h) => h.wsUrl),
      { reconnectBaseMs: 10, reconnectCapMs: 10, random: () => (waitsAfter.push(hits.length), 0) },
    );
    l.start(abort!.signal);
    while (hits.length < 9) await new Promise((r) => setTimeout(r, 5));
    abort!.abort();
    await l.stopped();
    expect(hits.slice(0, 9)).toEqual(['A', 'B', 'C', 'A', 'B', 'C', 'A', 'B', 'C']);
    expect(waitsAfter.slice(0, 2)).toEqual([3, 6]);
  });

  it(
    'sticks to the hub that works: ' + 'a lost working connection moves on to the next hub, not back to the first',
    async () => {
      const hits: string[] = [];
      const hubA = await refuser('A', hits);
      const [hubB, hubC] = [await stub(), await stub()];
      // every welcomed connection counts as a working one
      const l = link([hubA.wsUrl, hubB.wsUrl, hubC.wsUrl], { stableMs: 0 });
      let welcomed = l.events.next('welcome');
      l.start(abort!.signal);
      await welcomed;
      expect(l.info().url).toBe(hubB.wsUrl);
      welcomed = l.events.next('welcome');
      for (const ws of hubB.sockets) ws.close(1001, 'going away'); // hub B drops the connection and stays up
      await welcomed;
      expect(l.info()).toMatchObject({ connected: true, url: hubC.wsUrl });
      expect([hubA.count, hubB.upgrades, hubC.tokenRequests, hubC.upgrades]).toEqual([1, 1, 1, 1]);
    },
  );

  it(
    'counts a connection lost soon after its welcome as a failed attempt: ' +
      'hubs that drop every agent at once still get a backoff',
    async () => {
      const [hubA, hubB] = [await stub(), await stub()];
      for (const h of [hubA, hubB]) h.on('connected', (ws) => ws.on('message', () => ws.close(1001, 'going away')));
      let backedOff!: (attempts: number[]) => void;
      const waited = new Promise<number[]>((r) => (backedOff = r));
      const l = link([hubA.wsUrl, hubB.wsUrl], {
        stableMs: 3_600_000,
        random: () => (backedOff([hubA.upgrades, hubB.upgrades]), 1),
      });
      l.start(abort!.signal);
      expect(await waited).toEqual([1, 1]); // each welcomed the agent once, then the round was over
    },
  );

  it('starts a fresh round after a working connection is lost: no backoff however often that happens', async () => {
    const [hubA, hubB] = [await stub(), await stub()];
    for (const h of [hubA, hubB]) h.on('connected', (ws) => ws.on('message', () => ws.close(1001, 'going away')));
    let waits = 0;
    const l = link([hubA.wsUrl, hubB.wsUrl], { stableMs: 0, random: () => (waits++, 1) });
    l.start(abort!.signal);
    while (hubA.upgrades < 3 || hubB.upgrades < 3) await new Promise((r) => setTimeout(r, 5));
    expect(waits).toBe(0);
  });
});

describe('HubLink: a handshake it gives up', () => {
  it('drops the socket of an upgrade the hub does not answer, so the hub sees it go, then dials again', async () => {
    const hub = await hubs.start();
    hub.upgradeMode = 'hang';
    const link = makeLink(hub, { handshakeTimeoutMs: 50 });
    const abort = hubs.stopper();
    const firstGone = once(hub, 'gone');
    const second = new Promise<void>((resolve) => hub.on('upgrade', (n) => n === 2 && resolve()));
    link.start(abort.signal);
    expect(await firstGone).toEqual([1]); // the stand-in never closes it: the agent did
    await second;
    expect(link.connected).toBe(false);
    expect(link.info().lastError).toMatch(/timed out/);
  });

  it(
    'drops a connection the hub never welcomes — not a close to wait on, ' +
      'the socket — and says a later attempt on the next',
    async () => {
      const hub = await hubs.start();
      hub.helloMode = 'ignore';
      const link = makeLink(hub, { welcomeTimeoutMs: 50 });
      const abort = hubs.stopper();
      const connected = once(hub, 'connected') as Promise<[WebSocket]>;
      const hellos: Record<string, unknown>[] = [];
      const secondHello = new Promise<void>((resolve) =>
        hub.on('frame', (f) => {
          if (f.t !== 'hello') return;
          hellos.push(f);
          if (hellos.length === 2) resolve();
        }),
      );
      link.start(abort.signal);
      const [first] = await connected;
      const [code] = (await once(first, 'close')) as [number];
      expect(code).toBe(1006); // no close handshake: the socket was destroyed
      await secondHello;
      expect(hellos.map((h) => h.attempt)).toEqual([1, 2]);
      expect(hellos[1]!.run).toBe(hellos[0]!.run);
      expect(link.connected).toBe(false);
      expect(link.info().lastError).toMatch(/did not welcome this connection/);
    },
  );
});
