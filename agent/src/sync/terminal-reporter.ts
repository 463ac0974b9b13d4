import { systemClock, type AgentFrame, type TerminalStatus } from '@tillbridge/shared';
import type { RegisterStatus, RegisterStatusSource } from '../core/ports.js';

/** What the reporter needs of the hub link (HubLink): whether it is up, and a frame out. */
export interface TerminalLink {
  readonly connected: boolean;
  send(frame: AgentFrame): boolean;
}

/**
 * Sends each register's state to the hub as it changes (connected, disconnected, error, what the
 * register reported, last message), batched over a short window, and all of them again on every
 * (re)connection (`reportAll`, called by the composition root on each welcome). Status is current state, not history:
 * nothing is queued while offline.
 */
export class TerminalReporter {
  private readonly pending = new Map<string, TerminalStatus>();
  private timer: NodeJS.Timeout | undefined;

  /** `now`: the agent's clock, for each status's `at`. */
  constructor(
    private readonly link: TerminalLink,
    private readonly endpoints: readonly RegisterStatusSource[],
    private readonly now: () => number = () => systemClock.now(),
    private readonly windowMs = 50,
  ) {}

  start(): void {
    for (const e of this.endpoints) e.onStatus((s) => this.queue(s));
  }

  /** Sends every register's state now: on each (re)connection to the hub. */
  reportAll(): void {
    for (const e of this.endpoints) this.queue(e.status());
    this.flush();
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private queue(s: RegisterStatus): void {
    const t: TerminalStatus = {
      register: s.id,
      state: s.state,
      transport: s.transport.slice(0, 200),
      connections: s.connected,
      at: new Date(this.now()).toISOString(),
    };
    if (s.detail) t.detail = s.detail.slice(0, 300);
    if (s.reported)
      t.reported =
        s.reported.detail === undefined
          ? { state: s.reported.state, at: s.reported.at }
          : { state: s.reported.state, detail: s.reported.detail.slice(0, 200), at: s.reported.at };
    if (s.lastMessageAt) t.lastMessageAt = s.lastMessageAt;
    this.pending.set(s.id, t);
    this.timer ??= setTimeout(() => this.flush(), this.windowMs);
  }

  private flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.pending.size === 0 || !this.link.connected) return;
    const items = [...this.pending.values()];
    this.pending.clear();
    this.link.send({ t: 'terminal', items });
  }
}
