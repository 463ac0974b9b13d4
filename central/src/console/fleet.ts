import type { AdminQueries } from '../usecases/index.js';
import type { StorePresence } from '../sync/presence.js';
import type { StoreRow } from '../domain/stores.js';
import type { FeedEntry } from '../feed/feed.js';
import type { DecisionRow, LiveStoreRow, StoreRowDetail } from './wire.js';

export type { DecisionRow, LiveStoreRow, StoreRowDetail } from './wire.js';

/** What the console reads: the admin API's read-only queries, no more. */
export type ConsoleQueries = Pick<
  AdminQueries,
  | 'clock'
  | 'stores'
  | 'presence'
  | 'policies'
  | 'syncConfig'
  | 'accuracy'
  | 'erpFeed'
  | 'terminals'
  | 'exceptions'
  | 'returnsRepo'
  | 'audit'
  | 'auditTrail'
  | 'activity'
>;

const iso = (ms: number | undefined): string | null => (ms === undefined ? null : new Date(ms).toISOString());

/** "tillbridge-agent/0.1.0" → "0.1.0" (whatever the agent said, when it is not name/version). */
function versionOf(software: string | undefined): string | null {
  if (software === undefined) return null;
  const slash = software.lastIndexOf('/');
  return slash >= 0 ? software.slice(slash + 1) : software;
}

export function liveRow(s: StoreRow, p: StorePresence): LiveStoreRow {
  const regs = p.connected ? p.registers : undefined;
  return {
    store: s.id,
    name: s.name,
    connected: p.connected,
    since: p.connected ? iso(p.since) : null,
    lastSeen: p.connected ? (iso(p.lastFrameMs) ?? s.last_seen_at) : s.last_seen_at,
    lastHeartbeat: iso(p.heartbeatMs),
    agentVersion: p.connected ? versionOf(p.agent?.software) : null,
    outboxDepth: p.connected ? (p.outboxDepth ?? null) : null,
    outboxAgeMs: p.connected ? (p.oldestAgeMs ?? null) : null,
    registers: regs ? { total: regs.length, connected: regs.filter((r) => r.connected > 0).length } : null,
    policyHeld: p.policyVersion ?? null,
    settingsRun: p.configVersion ?? null,
  };
}

/** Every store's live row (one read of the stores, the rest from memory). */
export function liveRows(q: ConsoleQueries, only?: ReadonlySet<string>): LiveStoreRow[] {
  return q.stores
    .list()
    .filter((s) => !only || only.has(s.id))
    .map((s) => liveRow(s, q.presence.get(s.id)));
}

/** The outbox depths the connected stores' agents last reported (those that did). */
export function outboxes(q: ConsoleQueries): number[] {
  return q.stores.list().flatMap((s) => {
    const p = q.presence.get(s.id);
    return p.connected && p.outboxDepth !== undefined ? [p.outboxDepth] : [];
  });
}

/** Every store with its versions and accuracy (a few reads per store: on a page load, never per push). */
export function fleet(q: ConsoleQueries): StoreRowDetail[] {
  return q.stores.list().map((s) => detailRow(q, s));
}

/** One store's row with its versions and accuracy. */
export function detailRow(q: ConsoleQueries, s: StoreRow): StoreRowDetail {
  return {
    ...liveRow(s, q.presence.get(s.id)),
    policyVersion: q.policies.effective(s.id).version,
    settingsVersion: q.syncConfig.effective(s.id).version,
    inventoryAccuracy: q.accuracy.get(s.id)?.ratio ?? null,
  };
}

export const DECISION_TYPES = ['return.authorized', 'return.denied'] as const;

const text = (v: unknown): string | null => (typeof v === 'string' ? v : null);

export function decisionOf(e: FeedEntry): DecisionRow {
  const d = e.data;
  return {
    position: e.position,
    at: e.at,
    authorization: text(d.authorization) ?? e.id,
    store: e.store,
    register: text(d.register),
    decision: text(d.decision) ?? (e.type === 'return.denied' ? 'denied' : 'approved'),
    mode: text(d.mode),
    status: text(d.status),
    latencyMs: typeof d.latencyMs === 'number' ? d.latencyMs : null,
  };
}

/** The newest decisions (up to `limit`, newest first; one store's when given): Feed.latestOf. */
export function recentDecisions(q: ConsoleQueries, limit: number, store?: string): DecisionRow[] {
  return q.erpFeed.latestOf(DECISION_TYPES, limit, store).map(decisionOf);
}
