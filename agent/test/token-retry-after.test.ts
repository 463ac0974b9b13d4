import { describe, expect, it } from 'vitest';
import { createLogger, isTbError, TbCodes } from '@tillbridge/shared';
import { HubLink } from '../src/sync/hub-link.js';
import { fetchAccessToken, hubRefusalCode, retryAfterMs } from '../src/sync/token-client.js';
import type { StubHub } from './stub-hub.js';
import { stubHubsPerTest } from './support/stub-hubs.js';
import { testLinkOptions } from './support/link-options.js';

/**
 * The hub answers a token request 429 with `Retry-After`: the agent's next token request waits for
 * it, whichever path makes it. Proved by order, never by elapsed time: the link's waits go
 * through an injected `sleep` that the test releases, and the stub counts token requests.
 */

/** Waits the link asks for: short ones (its reconnection backoff) end at once; long ones wait for `release()`. */
class Sleeps {
  readonly asked: number[] = [];
  private readonly held: (() => void)[] = [];
  private longAsked: (() => void) | undefined;
  constructor(private readonly longFrom: number) {}

  readonly sleep = (ms: number, signal: AbortSignal): Promise<void> => {
    this.asked.push(ms);
    if (ms < this.longFrom) return new Promise((r) => setImmediate(r));
    this.longAsked?.();
    return new Promise((resolve) => {
      this.held.push(resolve);
      signal.addEventListener('abort', () => resolve(), { once: true });
    });
  };

  /** Resolves when a long wait is (or was) asked for. */
  long(): Promise<number> {
    const found = this.asked.find((ms) => ms >= this.longFrom);
    if (found !== undefined) return Promise.resolve(found);
    return new Promise((resolve) => {
      this.longAsked = () => resolve(this.asked.find((ms) => ms >= this.longFrom)!);
    });
  }

  release(): void {
    for (const r of this.held.splice(0)) r();
  }
}

/** A logger whose lines the test can wait for. */
function capturingLog(): { log: ReturnType<typeof createLogger>; seen: (msg: string) => Promise<void> } {
  const lines: string[] = [];
  const waiting: { msg: string; resolve: () => void }[] = [];
  const log = createLogger({
    name: 'test',
    level: 'debug',
    destination: {
      write(line: string) {
        const msg = (JSON.parse(line) as { msg: string }).msg;
        lines.push(msg);
        for (const w of waiting.filter((x) => x.msg === msg)) w.resolve();
      },
    },
  });
  return {
    log,
    seen: (msg) => (lines.includes(msg) ? Promise.resolve() : new Promise((resolve) => waiting.push({ msg, resolve }))),
  };
}

const WAITING = "waiting for the end of the hub's Retry-After before the next token request";

const hubs = stubHubsPerTest();

/**
 * Starts a stub hub, set up by `setUp`, and a link to it whose waits of 10 s or more are held until the test
 * releases them; resolves with the link, its waits, its log lines and its first welcome.
 */
async function startLink(setUp: (h: StubHub) => void): Promise<{
  hub: StubHub;
  abort: AbortController;
  link: HubLink;
  sleeps: Sleeps;
  seen: (msg: string) => Promise<void>;
  welcomed: Promise<unknown>;
}> {
  const started = await hubs.start();
  setUp(started);
  const sleeps = new Sleeps(10_000);
  const { log, seen } = capturingLog();
  // its own backoff is short (at most 100 ms): a 429 asking for two minutes must win over it
  const link = new HubLink({ ...testLinkOptions(started.wsUrl, log), sleep: sleeps.sleep });
  const stop = hubs.stopper();
  const welcomed = link.events.next('welcome');
  link.start(stop.signal);
  return { hub: started, abort: stop, link, sleeps, seen, welcomed };
}

describe('the agent honours Retry-After on its token requests', () => {
  it(
    'connecting: after a 429 the next token request waits for Retry-After plus jitter, ' +
      'not for its shorter backoff',
    async () => {
      const { hub, link, sleeps, seen, welcomed } = await startLink((h) => {
        h.refuseToken = (n) => (n === 1 ? { retryAfter: '120' } : undefined);
      });

      const wait = await sleeps.long();
      expect(wait).toBeGreaterThanOrEqual(120_000);
      expect(wait).toBeLessThan(120_000 + 24_000); // jitter: up to a fifth of it
      // its backoff ended at once; the reconnection is now waiting for the hub's wait, having asked nothing
      await seen(WAITING);
      expect(sleeps.asked.filter((ms) => ms < 10_000).length).toBeGreaterThanOrEqual(1);
      expect(hub.tokenRequests).toBe(1);
      expect(link.info().lastError).toMatch(/limiting token requests.*120 s/);

      sleeps.release();
      await welcomed;
      expect(hub.tokenRequests).toBe(2);
      expect(link.connected).toBe(true);
    },
  );

  it('refreshing: a 429 on the refresh holds the reconnection that follows too', async () => {
    const { hub, link, sleeps, seen, welcomed } = await startLink((h) => {
      h.tokenLifetimeSec = 1; // refreshed at 80 %: soon
      h.refuseToken = (n) => (n === 2 ? { retryAfter: '300' } : undefined);
    });
    await welcomed;

    expect(await sleeps.long()).toBeGreaterThanOrEqual(300_000);
    expect(hub.tokenRequests).toBe(2);
    // the connection drops: the reconnection needs a token, and waits for the refusal's Retry-After
    const down = link.events.next('down');
    for (const ws of hub.sockets) ws.terminate();
    await down;
    await seen(WAITING);
    expect(hub.tokenRequests).toBe(2);

    const again = link.events.next('welcome');
    sleeps.release();
    await again;
    expect(hub.tokenRequests).toBe(3);
  });

  it('a WebSocket upgrade answered 429 holds the next token request for its Retry-After too', async () => {
    const { hub, sleeps, seen, welcomed } = await startLink((h) => {
      h.upgradeMode = 'refuse';
    });

    expect(await sleeps.long()).toBeGreaterThanOrEqual(60_000);
    await seen(WAITING);
    expect(hub.tokenRequests).toBe(1);
    expect(hub.upgrades).toBe(1);

    hub.upgradeMode = 'accept';
    sleeps.release();
    await welcomed;
    expect(hub.tokenRequests).toBe(2); // the refused upgrade's token was dropped
  });

  it('stops while it waits for a Retry-After', async () => {
    const { hub, abort, link, seen } = await startLink((h) => {
      h.refuseToken = () => ({ retryAfter: '3600' });
    });
    await seen(WAITING);
    abort.abort();
    await link.stopped();
    expect(hub.tokenRequests).toBe(1);
  });

  it('a 429 is TB_RATE_LIMITED with the wait it asked for', async () => {
    const hub = await hubs.start();
    hub.refuseToken = () => ({ retryAfter: '7' });
    const err = await fetchAccessToken(hub.wsUrl, 'S1', 'tbk_test_key').catch((e: unknown) => e);
    expect(isTbError(err, TbCodes.RATE_LIMITED)).toBe(true);
    expect((err as { details: { retryAfterMs: number } }).details.retryAfterMs).toBe(7000);
  });

  it.each([
    [401, TbCodes.UNAUTHORIZED],
    [429, TbCodes.RATE_LIMITED],
    [503, TbCodes.HUB_UNAVAILABLE],
    [undefined, TbCodes.HUB_UNAVAILABLE],
  ])('a hub refusal with HTTP %s is %s', (status, code) => {
    expect(hubRefusalCode(status)).toBe(code);
  });

  it("reads Retry-After as seconds or an HTTP date, else the answer's details, else a minute", () => {
    const now = Date.parse('2026-11-27T10:00:00Z');
    expect(retryAfterMs('30', undefined, now)).toBe(30_000);
    expect(retryAfterMs('Fri, 27 Nov 2026 10:01:30 GMT', undefined, now)).toBe(90_000);
    expect(retryAfterMs('Fri, 27 Nov 2026 09:00:00 GMT', undefined, now)).toBe(0);
    expect(retryAfterMs(undefined, { details: { retryAfterSec: 12 } }, now)).toBe(12_000);
    expect(retryAfterMs('soon', undefined, now)).toBe(60_000);
  });
});
