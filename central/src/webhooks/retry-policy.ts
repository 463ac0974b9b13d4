/**
 * What an attempt's outcome means for its delivery (Standard Webhooks 1.0, "Delivery success and
 * failure"): 2xx succeeds; 410 disables the endpoint; anything else (3xx included: redirects are
 * not followed) fails and is retried on the schedule, with Retry-After honoured on 429/502/503/504.
 */
const S = 1000;
const M = 60 * S;
const H = 60 * M;

/**
 * The delay before each retry: after the first failed attempt 5 s, then 5 min, … After the last, the delivery is
 * abandoned.
 */
export const RETRY_SCHEDULE_MS: readonly number[] = [5 * S, 5 * M, 30 * M, 2 * H, 5 * H, 10 * H, 10 * H];

/** Each delay is spread by ±10 % so that retries to a struggling receiver do not arrive together. */
export const JITTER = 0.1;

/** A Retry-After beyond this is taken as this (a receiver cannot park a delivery for weeks). */
export const MAX_RETRY_AFTER_MS = 24 * H;

/** An endpoint failing with no success for this long is disabled. */
export const DISABLE_AFTER_FAILING_MS = 5 * 24 * H;

export type AttemptVerdict =
  { kind: 'succeeded' } | { kind: 'gone' } | { kind: 'retry'; delayMs: number } | { kind: 'abandon' };

export interface AttemptResult {
  /** HTTP status, or undefined when no response came (timeout, refused, reset, DNS, TLS). */
  status?: number;
  retryAfter?: string;
}

/** Retry-After as milliseconds from `now`: delta-seconds or an HTTP date; undefined when absent or unreadable. */
export function retryAfterMs(value: string | undefined, now: number): number | undefined {
  if (!value) return undefined;
  const v = value.trim();
  if (/^\d+$/.test(v)) return Math.min(Number(v) * S, MAX_RETRY_AFTER_MS);
  const at = Date.parse(v);
  if (Number.isNaN(at)) return undefined;
  return Math.min(Math.max(0, at - now), MAX_RETRY_AFTER_MS);
}

export function jittered(ms: number, random: () => number): number {
  return Math.round(ms * (1 + (random() * 2 - 1) * JITTER));
}

const THROTTLED = new Set([429, 502, 503, 504]);

/** `failedBefore`: failed attempts since the delivery was (re)queued, not counting this one. */
export function judge(r: AttemptResult, failedBefore: number, now: number, random: () => number): AttemptVerdict {
  if (r.status !== undefined && r.status >= 200 && r.status < 300) return { kind: 'succeeded' };
  if (r.status === 410) return { kind: 'gone' };
  const base = RETRY_SCHEDULE_MS[failedBefore];
  if (base === undefined) return { kind: 'abandon' };
  const scheduled = jittered(base, random);
  const asked = r.status !== undefined && THROTTLED.has(r.status) ? retryAfterMs(r.retryAfter, now) : undefined;
  return { kind: 'retry', delayMs: Math.max(scheduled, asked ?? 0) };
}
