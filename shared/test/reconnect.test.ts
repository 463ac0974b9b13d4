import { describe, expect, it } from 'vitest';
import { errorText, ReconnectBackoff } from '../src/reconnect.js';

/** A clock the test moves, and waits it records instead of sleeping. */
function fixture(opts: { stableMs?: number } = {}) {
  let nowMs = 0;
  const waits: number[] = [];
  const backoff = new ReconnectBackoff({
    baseMs: 100,
    capMs: 1000,
    ...opts,
    random: () => 1, // the ceiling itself: the waits show the exponent
    clock: { now: () => nowMs },
    sleep: (ms) => {
      waits.push(ms);
      return Promise.resolve();
    },
  });
  return { backoff, waits, advance: (ms: number) => (nowMs += ms) };
}

describe('ReconnectBackoff', () => {
  it('doubles the wait on each failure up to the cap; a link up stableMs starts it over', async () => {
    const { backoff, waits, advance } = fixture({ stableMs: 500 });
    const signal = new AbortController().signal;
    for (let i = 0; i < 5; i++) await backoff.wait(signal);
    expect(waits).toEqual([100, 200, 400, 800, 1000]);
    backoff.up();
    advance(499);
    expect(backoff.lost()).toBe(false); // dropped right after opening: backs off like a failure
    await backoff.wait(signal);
    backoff.up();
    advance(500);
    expect(backoff.lost()).toBe(true);
    await backoff.wait(signal, 150);
    expect(waits.slice(5)).toEqual([1000, 150]);
  });

  it('a stable link lost for a reason that must slow down keeps the backoff', () => {
    const { backoff, advance } = fixture();
    backoff.atLeast(3);
    backoff.up();
    advance(10_000);
    expect(backoff.lost(false)).toBe(false);
    expect(backoff.failures).toBe(3);
  });

  it('for a polling loop: the next attempt is due after the backoff, and at once after a reset', () => {
    const { backoff, advance } = fixture();
    expect(backoff.due()).toBe(true);
    backoff.failed();
    expect(backoff.due()).toBe(false);
    advance(100);
    expect(backoff.due()).toBe(true);
    backoff.failed();
    advance(199);
    expect(backoff.due()).toBe(false);
    backoff.reset();
    expect(backoff.due()).toBe(true);
  });
});

describe('errorText', () => {
  it('is one bounded line without control characters or a leading "Error: "', () => {
    expect(errorText(new Error('Error: port\nbusy\u0007'))).toBe('port busy');
    expect(errorText('x'.repeat(300))).toHaveLength(200);
    expect(errorText(new Error(''))).toBe('unknown error');
  });
});
