import { systemClock, TERMINAL_KINDS_FROM, type AgentFrame, type TerminalStatus } from '@tillbridge/shared';
import type { RegisterStatus, RegisterStatusSource } from '../core/ports.js';

/** What the reporter needs of the hub link (HubLink): whether it is up, the protocol its welcome chose, a frame out. */
export interface TerminalLink {
  readonly connected: boolean;
  info(): { protocol?: number };
  send(frame: AgentFrame): boolean;
}

/**
 * What a hub of `protocol` takes: from protocol 5 everything; before, the registers only, without `kind`, `codec` and
 * `feeds` (a hub of protocol 4 refuses a field it does not know).
 */
export function terminalsFor(protocol: number | undefined, items: TerminalStatus[]): TerminalStatus[] {
  if (protocol !== undefined && protocol >= TERMINAL_KINDS_FROM) return items;
  return items
    .filter((t) => t.kind !== 'scanner')
    .map(({ kind: _kind, codec: _codec, feeds: _feeds, ...rest }) => rest);
}

/**
 * Sends each register's (and scanner's) state to the hub as it changes (connected, disconnected, error, what the
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
      ...(s.kind ? { kind: s.kind } : {}),
      ...(s.codec ? { codec: s.codec.slice(0, 64) } : {}),
      ...(s.feeds ? { feeds: s.feeds } : {}),
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
    const items = terminalsFor(this.link.info().protocol, [...this.pending.values()]);
    this.pending.clear();
    if (items.length > 0) this.link.send({ t: 'terminal', items });
  }
}
