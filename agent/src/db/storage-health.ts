import { systemClock } from '@tillbridge/shared';

/** One write that failed: what it was for, SQLite's code (e.g. SQLITE_FULL), when. */
export interface WriteFailure {
  what: string;
  code: string;
  message: string;
  at: string;
}

/** What `tillbridge-agent status` shows of the agent's writes. */
export interface StorageHealthView {
  /** Writes failing now: each is retried (state the hub pushed) or refused to registers until one succeeds. */
  failing: string[];
  /** Failed writes since the agent started, by what they were for. */
  failures: Record<string, number>;
  lastError?: WriteFailure;
}

/**
 * Which of the agent's writes fail (a full disk, an I/O error) and which have recovered: read by
 * `status` and the metrics. A write is failing from its first failure until the same kind of
 * write succeeds again.
 */
export class StorageHealth {
  private readonly failures = new Map<string, number>();
  private readonly failingNow = new Set<string>();
  private last: WriteFailure | undefined;

  constructor(private readonly now: () => number = () => systemClock.now()) {}

  failed(what: string, err: unknown): void {
    this.failures.set(what, (this.failures.get(what) ?? 0) + 1);
    this.failingNow.add(what);
    const code =
      typeof (err as { code?: unknown } | null | undefined)?.code === 'string'
        ? (err as { code: string }).code
        : 'unknown';
    this.last = {
      what,
      code,
      message: err instanceof Error ? err.message : String(err),
      at: new Date(this.now()).toISOString(),
    };
  }

  ok(what: string): void {
    this.failingNow.delete(what);
  }

  isFailing(what: string): boolean {
    return this.failingNow.has(what);
  }

  view(): StorageHealthView {
    const v: StorageHealthView = { failing: [...this.failingNow].sort(), failures: Object.fromEntries(this.failures) };
    if (this.last) v.lastError = this.last;
    return v;
  }
}
