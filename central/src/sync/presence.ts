/** Live view of each store's agent connection, for `status` (in memory; last seen is also stored). */
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
