import { fullJitterDelay, type Logger } from '@tillbridge/shared';
import type { StorageHealth } from './storage-health.js';

export interface WriteRetryOptions {
  baseMs: number;
  capMs: number;
  health: StorageHealth;
  log: Logger;
  random?: () => number;
}

interface Owed {
  write: () => void;
  attempts: number;
  timer?: NodeJS.Timeout;
}

/**
 * Writes the agent owes to its database but cannot refuse to anyone: state the hub pushed
 * (inventory, policy, settings, a rotated key), deletes of acknowledged events. A write that
 * throws (a full disk) is logged with its error, shown as failing in `status`, and run again with
 * full-jitter backoff until it succeeds; a newer write of the same thing replaces the one owed.
 * So the same process catches up once space returns. What is owed at a stop is not lost: the hub
 * pushes its state again on the next connection, and unacknowledged events stay in the outbox.
 */
export class WriteRetry {
  private readonly owed = new Map<string, Owed>();
  private stopped = false;

  constructor(private readonly opts: WriteRetryOptions) {}

  /** Runs `write` now (it should be one transaction); true when it succeeded, false when it is owed. */
  run(what: string, write: () => void): boolean {
    if (this.stopped) return false;
    const o = this.owed.get(what);
    if (o) o.write = write;
    else this.owed.set(what, { write, attempts: 0 });
    return this.attempt(what);
  }

  /** Whether a write of `what` failed and waits to be retried. */
  owes(what: string): boolean {
    return this.owed.has(what);
  }

  setBackoff(baseMs: number, capMs: number): void {
    this.opts.baseMs = baseMs;
    this.opts.capMs = capMs;
  }

  /** Drops the timers; nothing more is written. */
  stop(): void {
    this.stopped = true;
    for (const o of this.owed.values()) if (o.timer) clearTimeout(o.timer);
    this.owed.clear();
  }

  private attempt(what: string): boolean {
    const o = this.owed.get(what);
    if (!o) return true;
    try {
      o.write();
    } catch (err) {
      o.attempts++;
      this.opts.health.failed(what, err);
      if (!o.timer) {
        const delay = fullJitterDelay(o.attempts - 1, {
          baseMs: this.opts.baseMs,
          capMs: this.opts.capMs,
          ...(this.opts.random ? { random: this.opts.random } : {}),
        });
        o.timer = setTimeout(
          () => {
            o.timer = undefined;
            this.attempt(what);
          },
          Math.max(delay, 50),
        );
        this.opts.log.error(
          { err, what, attempts: o.attempts, retryInMs: Math.round(delay) },
          'a write failed; it will be retried',
        );
      }
      return false;
    }
    if (o.timer) clearTimeout(o.timer);
    this.owed.delete(what);
    this.opts.health.ok(what);
    if (o.attempts > 0) this.opts.log.info({ what, attempts: o.attempts + 1 }, 'a write that had failed is done');
    return true;
  }
}
