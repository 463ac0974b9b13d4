import type { HeartbeatFrame } from '@tillbridge/shared';
import { ChangeListeners } from '../domain/change-listeners.js';

/** Where a store's last seen time is kept (Stores: a deferred write). */
export interface LastSeen {
  touch(store: string, atMs: number): void;
}

/** What an agent says of itself in its hello (docs/upgrade.md): shown by `status` and `stores list`. */
export interface AgentInfo {
  /** the protocol version the connection uses */
  protocol: number;
  /** e.g. tillbridge-agent/0.1.0 */
  software?: string;
  os?: { platform: string; release: string; arch: string };
  /** when this run of the agent started (its clock), ms */
  startedAt?: number;
}

/**
 * Live view of each store's agent connection, for `status`, the admin API and the metrics: in
 * memory only — the agent reports it all again on its next heartbeat. Of it, only when the store
 * was last seen is stored (a deferred write, at each heartbeat and when the agent disconnects).
 * With many hub processes on one database (`share`), the stores other processes hold are read
 * from the table they write theirs to, and this process writes its own there.
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
  /** the hub process that holds the connection, when another one than this (many hub processes) */
  process?: string;
  /** what the agent said of itself in its hello (its version, OS, start) */
  agent?: AgentInfo;
}

/**
 * The connections other hub processes hold, on one shared database (cluster/live-sessions.ts):
 * this process says what it holds, and reads what the others do.
 */
export interface SharedPresence {
  /** This process holds the store's connection; these are its latest figures. */
  held(p: StorePresence): void;
  /** This process no longer holds the store's connection. */
  released(store: string): void;
  /** The stores other live hub processes hold. */
  others(): Map<string, StorePresence>;
}

export class Presence {
  private readonly byStore = new Map<string, StorePresence>();
  private shared: SharedPresence | undefined;
  private readonly changeListeners = new ChangeListeners();

  constructor(private readonly lastSeen: LastSeen) {}

  /**
   * Hears each change this process makes to a store's presence (connected, heartbeat, disconnected): the operator
   * console's live view. Another process's changes are not heard here (the console reads them on its refresh).
   */
  onChange(listener: (store: string) => void): void {
    this.changeListeners.add(listener);
  }

  private changed(store: string): void {
    this.changeListeners.tell(store);
  }

  /** Many hub processes on one database: what they hold counts too. */
  share(shared: SharedPresence): void {
    this.shared = shared;
  }

  /** The store's connection: this process's, else (shared) the one another process holds, else not connected. */
  get(store: string): StorePresence {
    const p = this.local(store);
    if (p.connected || !this.shared) return p;
    return this.shared.others().get(store) ?? p;
  }

  private local(store: string): StorePresence {
    let p = this.byStore.get(store);
    if (!p) this.byStore.set(store, (p = { store, connected: false }));
    return p;
  }

  connected(store: string, agentId: string, now: number, agent?: AgentInfo): void {
    const p = this.local(store);
    p.connected = true;
    p.agentId = agentId;
    if (agent) p.agent = agent;
    else delete p.agent;
    p.since = now;
    p.lastFrameMs = now;
    this.shared?.held(p);
    this.changed(store);
  }

  /** A frame from the store's agent, now. */
  frame(store: string, now: number): void {
    this.local(store).lastFrameMs = now;
  }

  /** What the agent's heartbeat says; the store was seen now. */
  heartbeat(store: string, frame: HeartbeatFrame, now: number): void {
    const p = this.local(store);
    p.outboxDepth = frame.outboxDepth;
    p.oldestAgeMs = frame.oldestAgeMs;
    p.heartbeatMs = now;
    p.lastFrameMs = now;
    p.registers = frame.registers;
    if (frame.policyVersion !== undefined) p.policyVersion = frame.policyVersion;
    if (frame.configVersion !== undefined) p.configVersion = frame.configVersion;
    this.lastSeen.touch(store, now);
    if (p.connected) this.shared?.held(p);
    this.changed(store);
  }

  disconnected(store: string, now: number): void {
    const p = this.local(store);
    p.connected = false;
    p.lastFrameMs = now;
    delete p.since;
    this.shared?.released(store);
    this.changed(store);
  }

  /** Stores connected (to any hub process, when shared). */
  count(): number {
    const stores = new Set<string>();
    for (const p of this.byStore.values()) if (p.connected) stores.add(p.store);
    if (this.shared) for (const s of this.shared.others().keys()) stores.add(s);
    return stores.size;
  }

  /** The store's connection as this process holds it (metrics: each process says what it holds). */
  here(store: string): StorePresence {
    return this.local(store);
  }

  /** Stores connected to this process. */
  countHere(): number {
    return this.heldHere().length;
  }

  /** The stores this process holds a connection of. */
  heldHere(): string[] {
    return [...this.byStore.values()].filter((p) => p.connected).map((p) => p.store);
  }
}
