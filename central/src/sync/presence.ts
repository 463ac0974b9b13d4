import type { HeartbeatFrame } from '@tillbridge/shared';

/** Where a store's last seen time is kept (Stores: a deferred write). */
export interface LastSeen {
  touch(store: string, atMs: number): void;
}

/**
 * Live view of each store's agent connection, for `status`, the admin API and the metrics: in
 * memory only — the agent reports it all again on its next heartbeat. Of it, only when the store
 * was last seen is stored (a deferred write, at each heartbeat and when the agent disconnects).
 */
export interface StorePresence {
  store: string;
  connected: boolean;
  agentId?: string;
  since?: number;
  lastFrameMs?: number;
  outboxDepth?: number;
  oldestAgeMs?: number;
  heartbeatMs?: number;
  registers?: { id: string; connected: number }[];
  /** the policy version the agent holds */
  policyVersion?: number;
  /** the sync settings version the agent runs */
  configVersion?: number;
}

export class Presence {
  private readonly byStore = new Map<string, StorePresence>();

  constructor(private readonly lastSeen: LastSeen) {}

  get(store: string): StorePresence {
    let p = this.byStore.get(store);
    if (!p) this.byStore.set(store, (p = { store, connected: false }));
    return p;
  }

  connected(store: string, agentId: string, now: number): void {
    const p = this.get(store);
    p.connected = true;
    p.agentId = agentId;
    p.since = now;
    p.lastFrameMs = now;
  }

  /** What the agent's heartbeat says; the store was seen now. */
  heartbeat(store: string, frame: HeartbeatFrame, now: number): void {
    const p = this.get(store);
    p.outboxDepth = frame.outboxDepth;
    p.oldestAgeMs = frame.oldestAgeMs;
    p.heartbeatMs = now;
    p.lastFrameMs = now;
    p.registers = frame.registers;
    if (frame.policyVersion !== undefined) p.policyVersion = frame.policyVersion;
    if (frame.configVersion !== undefined) p.configVersion = frame.configVersion;
    this.lastSeen.touch(store, now);
  }

  disconnected(store: string, now: number): void {
    const p = this.get(store);
    p.connected = false;
    p.lastFrameMs = now;
    delete p.since;
  }

  count(): number {
    let n = 0;
    for (const p of this.byStore.values()) if (p.connected) n++;
    return n;
  }
}
