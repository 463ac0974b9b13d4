import type { HubStorage, Statement } from '../storage/index.js';

/** A return decision on the ERP feed, as the console's timeline counts it. */
export interface DecisionActivity {
  /** when the hub recorded it (ISO) */
  recordedAt: string;
  mode: string | null;
  decision: string | null;
  /** the hub's latency for an online decision (ms), when measured */
  latencyMs: number | null;
}

/** An agent's event applied: when the agent committed it, when the hub did (ISO). */
export interface AppliedActivity {
  agentAt: string;
  appliedAt: string;
}

/** A webhook delivery's latest attempt: its state then (succeeded, failed, abandoned) and when (ISO). */
export interface DeliveryActivity {
  state: string;
  at: string;
}

/**
 * How far back a webhook delivery is looked for by when it was created: its retries end about a day and a half after
 * (the schedule's delays, Retry-After at most a day), so the deliveries whose latest attempt falls in the last half
 * hour were created within this.
 */
export const DELIVERY_LOOK_BACK_MS = 3 * 24 * 60 * 60_000;

/**
 * What happened across the whole fleet lately, read from the hub's database (every hub process sees the same): the
 * return decisions on the ERP feed, the agents' events applied, the webhook deliveries attempted. Read-only; the
 * operator console's timeline (console/timeline.ts) turns them into series per minute.
 */
export class Activity {
  private readonly next: Statement;
  private readonly head: Statement;
  private readonly decisions: Statement;
  private readonly applied: Statement;
  private readonly deliveries: Statement;

  constructor(s: HubStorage) {
    const db = s.db;
    this.next = db.prepare(`SELECT position, recorded_at FROM feed WHERE position >= ? ORDER BY position LIMIT 1`);
    this.head = db.prepare(`SELECT COALESCE(MAX(position), 0) AS head FROM feed`);
    this.decisions = db.prepare(
      `SELECT recorded_at, data FROM feed
       WHERE position >= ? AND type IN ('return.authorized', 'return.denied') ORDER BY position`,
    );
    this.applied = db.prepare(`SELECT agent_at, applied_at FROM applied_events WHERE applied_at >= ?`);
    this.deliveries = db.prepare(
      `SELECT state, last_attempt_at FROM webhook_deliveries
       WHERE created_at >= ? AND last_attempt_at >= ? AND state IN ('succeeded', 'failed', 'abandoned')`,
    );
  }

  /**
   * The first feed position recorded at or after `since` (ISO), found by halving over the positions (the feed has no
   * index by time; positions grow with it); past the head when none is.
   */
  feedPositionAt(since: string): number {
    const first = this.rowAtOrAfter(0);
    if (!first || first.recorded_at >= since) return first?.position ?? 0;
    // recorded before `since` at lo; at hi, or at the first position after it, on or after `since` (or the end)
    let lo = first.position;
    let hi = Number((this.head.get() as { head: number | string }).head) + 1;
    while (hi - lo > 1) {
      const mid = Math.floor((lo + hi) / 2);
      const r = this.rowAtOrAfter(mid);
      if (!r || r.recorded_at >= since) hi = mid;
      else lo = r.position;
    }
    return hi;
  }

  /** The return decisions on the feed recorded since `since` (ISO), oldest first. */
  decisionsSince(since: string): DecisionActivity[] {
    return (this.decisions.all(this.feedPositionAt(since)) as { recorded_at: string; data: string }[]).map((r) => {
      const d = JSON.parse(r.data) as Record<string, unknown>;
      return {
        recordedAt: r.recorded_at,
        mode: typeof d.mode === 'string' ? d.mode : null,
        decision: typeof d.decision === 'string' ? d.decision : null,
        latencyMs: typeof d.latencyMs === 'number' ? d.latencyMs : null,
      };
    });
  }

  /** The agents' events applied since `since` (ISO). */
  appliedSince(since: string): AppliedActivity[] {
    return (this.applied.all(since) as { agent_at: string; applied_at: string }[]).map((r) => ({
      agentAt: r.agent_at,
      appliedAt: r.applied_at,
    }));
  }

  /**
   * The webhook deliveries whose latest attempt was since `since` (ISO), created at most DELIVERY_LOOK_BACK_MS before
   * `now` (ms).
   */
  deliveriesSince(since: string, now: number): DeliveryActivity[] {
    const created = new Date(now - DELIVERY_LOOK_BACK_MS).toISOString();
    return (this.deliveries.all(created, since) as { state: string; last_attempt_at: string }[]).map((r) => ({
      state: r.state,
      at: r.last_attempt_at,
    }));
  }

  private rowAtOrAfter(position: number): { position: number; recorded_at: string } | undefined {
    const r = this.next.get(position) as { position: number | string; recorded_at: string } | undefined;
    return r ? { position: Number(r.position), recorded_at: r.recorded_at } : undefined;
  }
}
