import { systemClock, type AuthzCounters } from '@tillbridge/shared';

/**
 * How this agent answered return requests since it started, by mode and outcome, and what went
 * wrong: reported to the hub with each heartbeat for the authorization success rate.
 */
export class AuthzCounter {
  private readonly counts: AuthzCounters;

  /** `now`: the agent's clock, for `since`. */
  constructor(now: () => number = () => systemClock.now()) {
    this.counts = { since: new Date(now()).toISOString(), online: {}, offline: {}, lateOnline: 0, failed: 0 };
  }

  decided(mode: 'online' | 'offline', decision: string): void {
    this.counts[mode][decision] = (this.counts[mode][decision] ?? 0) + 1;
  }

  late(): void {
    this.counts.lateOnline++;
  }

  failed(): void {
    this.counts.failed++;
  }

  snapshot(): AuthzCounters {
    return structuredClone(this.counts);
  }
}
