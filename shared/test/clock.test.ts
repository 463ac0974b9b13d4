import { describe, expect, it } from 'vitest';
import { clockFromEnv, startingAt, systemClock, TbCodes, TEST_CLOCK_ENV } from '../src/index.js';

describe('clocks', () => {
  it('startingAt reads its start now and then advances with the clock under it', () => {
    let real = 1_000;
    const c = startingAt(Date.parse('2026-11-28T10:00:00Z'), { now: () => real });
    expect(new Date(c.now()).toISOString()).toBe('2026-11-28T10:00:00.000Z');
    real += 1_500;
    expect(new Date(c.now()).toISOString()).toBe('2026-11-28T10:00:01.500Z');
  });

  it('the process clock is the system one unless TILLBRIDGE_TEST_CLOCK names an instant', () => {
    expect(clockFromEnv({})).toEqual({ clock: systemClock });
    const { clock, test } = clockFromEnv({ [TEST_CLOCK_ENV]: '2026-11-28T10:00:00+01:00' });
    expect(test).toBe('2026-11-28T09:00:00.000Z');
    const now = clock.now(); // started there, whatever today is
    expect(now).toBeGreaterThanOrEqual(Date.parse('2026-11-28T09:00:00Z'));
    expect(new Date(now).toISOString().slice(0, 10)).toBe('2026-11-28');
  });

  it('an unreadable TILLBRIDGE_TEST_CLOCK is a configuration error naming the variable', () => {
    for (const v of ['tomorrow', '2026-11-28', '2026-13-45T99:00:00Z']) {
      expect(() => clockFromEnv({ [TEST_CLOCK_ENV]: v })).toThrow(
        expect.objectContaining({
          code: TbCodes.CONFIG,
          message: expect.stringContaining('TILLBRIDGE_TEST_CLOCK: expected an ISO 8601'),
        }),
      );
    }
  });
});
