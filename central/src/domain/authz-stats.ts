import type { HubStorage, Statement } from '../storage/index.js';
import type { AuthzCounters } from '@tillbridge/shared';
import type { DeferredKind } from '../storage/deferred-writes.js';
import { iso, type Clock } from './clock.js';

export interface AuthzRate {
  /** return tickets by mode and outcome (authoritative: every decision reaches the hub) */
  tickets: { online: Record<string, number>; offline: Record<string, number> };
  /** requests the hub answered after the agent's deadline (the register got an offline decision) */
  lateOnline: number;
  /** requests an agent could not answer at all, as the agents report */
  failed: number;
  total: number;
  /** share of requests answered with a decision within the deadline */
  successRate: number | null;
  /** share answered online (by the hub, in time) */
  onlineRate: number | null;
}

interface CountersRow {
  store: string;
  agent_id: string;
  counters: string;
}

/**
 * The return authorization success rate (one of the seed's three metrics): requests answered
 * with a decision within the deadline, by mode and outcome. Tickets are counted at the hub; what
 * only the agent knows (a request it failed to answer) comes with its heartbeat and is kept here —
 * a deferred write: the agent sends its counters again with every heartbeat.
 */
export class AuthzStats {
  private readonly waiting: DeferredKind<CountersRow & { updated_at: string }>;
  private readonly stored: Statement;
  private readonly counts: Statement;
  private readonly late: Statement;

  constructor(
    s: HubStorage,
    private readonly clock: Clock,
  ) {
    const put = s.db.prepare(
      `INSERT INTO authz_counters (store, agent_id, counters, updated_at)
       VALUES (@store, @agent_id, @counters, @updated_at)
       ON CONFLICT (store, agent_id) DO UPDATE SET counters = excluded.counters, updated_at = excluded.updated_at`,
    );
    this.waiting = s.deferred.kind('authz_counters', (row) => void put.run(row));
    this.stored = s.db.prepare(
      `SELECT store, agent_id, counters FROM authz_counters WHERE (CAST(? AS TEXT) IS NULL OR store = ?)`,
    );
    this.counts = s.db.prepare(
      `SELECT mode, decision, COUNT(*) AS n FROM returns WHERE (CAST(? AS TEXT) IS NULL OR store = ?)
       GROUP BY mode, decision`,
    );
    this.late = s.db.prepare(
      `SELECT COUNT(*) AS n FROM returns WHERE late_online = 1 AND (CAST(? AS TEXT) IS NULL OR store = ?)`,
    );
  }

  /** An agent's counters, as its heartbeat reports them (written with the next batch of deferred writes). */
  report(store: string, agentId: string, c: AuthzCounters): void {
    this.waiting.put(store, agentId, {
      store,
      agent_id: agentId,
      counters: JSON.stringify(c),
      updated_at: iso(this.clock.now()),
    });
  }

  /** Each agent's latest counters: what waits to be written, else what is stored. */
  private countersOf(store: string | null): CountersRow[] {
    const rows = new Map<string, CountersRow>();
    for (const r of this.stored.all(store, store) as CountersRow[]) rows.set(`${r.store}\0${r.agent_id}`, r);
    for (const r of store === null ? this.waiting.all() : this.waiting.ofStore(store))
      rows.set(`${r.store}\0${r.agent_id}`, r);
    return [...rows.values()];
  }

  rate(store?: string): AuthzRate {
    const s = store ?? null;
    const tickets: AuthzRate['tickets'] = { online: {}, offline: {} };
    let decided = 0;
    for (const r of this.counts.all(s, s) as { mode: 'online' | 'offline'; decision: string; n: number }[]) {
      tickets[r.mode][r.decision] = r.n;
      decided += r.n;
    }
    const lateOnline = (this.late.get(s, s) as { n: number }).n;
    let failed = 0;
    for (const r of this.countersOf(s)) failed += (JSON.parse(r.counters) as AuthzCounters).failed;
    const total = decided + failed;
    const online = Object.values(tickets.online).reduce((a, b) => a + b, 0);
    return {
      tickets,
      lateOnline,
      failed,
      total,
      successRate: total === 0 ? null : decided / total,
      onlineRate: total === 0 ? null : online / total,
    };
  }
}
