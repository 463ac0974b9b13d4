import { systemClock, type AuthzCounters } from '@tillbridge/shared';

/**
 * How this agent answered return requests since it started, by mode and outcome, and what went
 * wrong: reported to the hub with each heartbeat for the authorization success rate.
 */
export class AuthzCounter {
  private readonly c: AuthzCounters;

  /** `now`: the agent's clock, for `since`. */
  constructor(now: () => number = systemClock.now) {
    this.c = { since: new Date(now()).toISOString(), online: {}, offline: {}, lateOnline: 0, failed: 0 };
  }

  decided(mode: 'online' | 'offline', decision: string): void {
    this.c[mode][decision] = (this.c[mode][decision] ?? 0) + 1;
  }

  late(): void {
    this.c.lateOnline++;
  }

  failed(): void {
    this.c.failed++;
  }

  snapshot(): AuthzCounters {
    return structuredClone(this.c);
  }
}
