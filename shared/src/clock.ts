import { TbCodes, TbError } from './errors.js';

/** Where the hub and the agent read the time: the system's, or a test's. */
export interface Clock {
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };

/**
 * Elapsed time, for timers and backoff ("stable for N ms", "next attempt at"): milliseconds from
 * an arbitrary start (performance.now()) that never jump when the system's clock is set, and are
 * not moved by a test clock. Only differences between two readings mean anything; never write
 * one down or show it as a time of day.
 */
export const monotonicClock: Clock = { now: () => performance.now() };

/**
 * A clock that reads `startMs` now and then advances with the real one: what end-to-end tests
 * give real hub and agent processes so that they behave the same on any day.
 */
export function startingAt(startMs: number, real: Clock = systemClock): Clock {
  const offset = startMs - real.now();
  return { now: () => real.now() + offset };
}

/** Set to an ISO 8601 instant, it starts the process's clock there (tests and rehearsals only). */
export const TEST_CLOCK_ENV = 'TILLBRIDGE_TEST_CLOCK';

/**
 * The process's clock: the system's, or one starting at `TILLBRIDGE_TEST_CLOCK` when that is set.
 * Only composition roots call this; an unreadable value is a configuration error naming the variable.
 */
export function clockFromEnv(env: NodeJS.ProcessEnv): { clock: Clock; test?: string } {
  const v = env[TEST_CLOCK_ENV];
  if (v === undefined || v === '') return { clock: systemClock };
  const ms = Date.parse(v);
  if (!/^\d{4}-\d{2}-\d{2}T/.test(v) || Number.isNaN(ms)) {
    throw new TbError(
      TbCodes.CONFIG,
      `${TEST_CLOCK_ENV}: expected an ISO 8601 date and time such as 2026-11-28T10:00:00Z, got ${JSON.stringify(v)}`,
    );
  }
  return { clock: startingAt(ms), test: new Date(ms).toISOString() };
}
