import { fullJitterDelay, sleep as abortableSleep } from './backoff.js';
import { monotonicClock, type Clock } from './clock.js';

export interface ReconnectBackoffOptions {
  baseMs: number;
  capMs: number;
  /** A link up this long before it was lost was a working one: the backoff starts over (default capMs). */
  stableMs?: number;
  /** The backoff's random source (default Math.random; tests make the waits observable). */
  random?: () => number;
  /** Elapsed time, for "stable for" and "next attempt at" (default monotonicClock: never a time of day). */
  clock?: Clock;
  /** Waits `ms` or until `signal` fires (default `sleep`; tests observe and release the waits). */
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
}

/**
 * The one backoff-and-reconnect primitive of the agent's links (the hub link, a register's port,
 * a HID device): full-jitter exponential backoff over failed attempts, started over once a link
 * has stayed up `stableMs`. A loop either waits the backoff (`wait`) or, polling, asks whether the
 * next attempt is due (`due`, after `failed`).
 */
export class ReconnectBackoff {
  private attempt = 0;
  private upSince: number | undefined;
  private nextAt = 0;
  private baseMs: number;
  private capMs: number;
  private readonly clock: Clock;

  constructor(private readonly opts: ReconnectBackoffOptions) {
    this.baseMs = opts.baseMs;
    this.capMs = opts.capMs;
    this.clock = opts.clock ?? monotonicClock;
  }

  /** Attempts failed since the last working link: the backoff's exponent. */
  get failures(): number {
    return this.attempt;
  }

  /** New bounds (the hub's sync settings), used from the next wait on. */
  setBounds(baseMs: number, capMs: number): void {
    this.baseMs = baseMs;
    this.capMs = capMs;
  }

  /** A link is up (opened, or welcomed): how long it stays up decides whether its loss starts over. */
  up(): void {
    this.upSince = this.clock.now();
  }

  /**
   * The link is gone (or an attempt ended): when it had stayed up `stableMs` since `up`, it was a
   * working one and the backoff starts over — unless `mayStartOver` is false (a link closed for a
   * reason that should slow down should it repeat). True when the backoff started over.
   */
  lost(mayStartOver = true): boolean {
    const since = this.upSince;
    this.upSince = undefined;
    const stable = since !== undefined && this.clock.now() - since >= (this.opts.stableMs ?? this.capMs);
    if (stable && mayStartOver) this.reset();
    return stable && mayStartOver;
  }

  /** Starts the backoff over: the next attempt at once, the next wait from the base. */
  reset(): void {
    this.attempt = 0;
    this.nextAt = 0;
  }

  /** Counts at least `attempts` failures (a refusal that must not be retried fast). */
  atLeast(attempts: number): void {
    this.attempt = Math.max(this.attempt, attempts);
  }

  /** The next delay, counting one more failure. */
  nextDelay(): number {
    const random = this.opts.random ? { random: this.opts.random } : {};
    return fullJitterDelay(this.attempt++, { baseMs: this.baseMs, capMs: this.capMs, ...random });
  }

  /** Waits the next delay (at least `minMs`), or until `signal` fires. */
  wait(signal: AbortSignal, minMs = 0): Promise<void> {
    return (this.opts.sleep ?? abortableSleep)(Math.max(this.nextDelay(), minMs), signal);
  }

  /** For a polling loop: an attempt failed, the next is due after the next delay. */
  failed(): void {
    this.nextAt = this.clock.now() + this.nextDelay();
  }

  /** For a polling loop: whether the next attempt may be made now. */
  due(): boolean {
    return this.clock.now() >= this.nextAt;
  }
}

/** Text of a device or system error (never register input) for status and logs: one line, bounded. */
export function errorText(err: unknown): string {
  const msg = err instanceof Error ? err.message : String(err);
  return (
    msg
      // eslint-disable-next-line no-control-regex -- control characters are what this strips
      .replace(/[\u0000-\u001f\u007f]+/g, ' ')
      .replace(/^(Error: )+/, '')
      .trim()
      .slice(0, 200) || 'unknown error'
  );
}
