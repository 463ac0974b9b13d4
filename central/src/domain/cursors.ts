import type { HubStorage, Statement } from '../storage/index.js';
import { iso, type Clock } from './clock.js';
import { MultiKeySelect, MultiRowInsert } from './multi-row.js';

/** An applied event as `applied_events` keeps it (`Cursors.markApplied`). */
export interface AppliedMark {
  eventId: string;
  store: string;
  agentId: string;
  incarnation: string;
  seq: number;
  kind: string;
  register: string;
  outcome: string;
  code: string | null;
  agentAt: string;
}

/** An applied event's `applied_events` row, applied `at`, in the order of the columns the statements name. */
function markRow(e: AppliedMark, at: string): unknown[] {
  return [e.eventId, e.store, e.agentId, e.incarnation, e.seq, e.kind, e.register, e.outcome, e.code, e.agentAt, at];
}

/** Where one (agent, incarnation) got to (`Cursors.setCursors`). */
export interface CursorMove {
  agentId: string;
  incarnation: string;
  store: string;
  lastSeq: number;
}

/**
 * Per agent: its store and latest incarnation; per (agent, incarnation): the last applied seq
 * (DESIGN rules 2 and 9); and every applied event id — what decides that an event is a duplicate.
 */
export class Cursors {
  private readonly get: Statement;
  private readonly getIncarnation: Statement;
  private readonly putIncarnation: Statement;
  private readonly putAgent: Statement;
  private readonly seen: Statement;
  private readonly mark: Statement;
  private readonly byStore: Statement;
  private readonly seenAmong: MultiKeySelect;
  private readonly incarnationsAmong: MultiKeySelect;
  private readonly markMany: MultiRowInsert;
  private readonly putIncarnations: MultiRowInsert;
  private readonly putAgents: MultiRowInsert;

  constructor(
    private readonly storage: HubStorage,
    private readonly clock: Clock,
  ) {
    this.get = storage.db.prepare(`SELECT store, incarnation, last_seq FROM agent_cursors WHERE agent_id = ?`);
    this.getIncarnation = storage.db.prepare(
      `SELECT store, last_seq FROM agent_incarnations WHERE agent_id = ? AND incarnation = ?`,
    );
    this.putIncarnation = storage.db.prepare(
      `INSERT INTO agent_incarnations (agent_id, incarnation, store, last_seq, started_at, updated_at)
       VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT (agent_id, incarnation) DO UPDATE
         SET last_seq = excluded.last_seq, updated_at = excluded.updated_at`,
    );
    this.putAgent = storage.db.prepare(
      `INSERT INTO agent_cursors (agent_id, store, incarnation, last_seq, updated_at) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (agent_id) DO UPDATE SET incarnation = excluded.incarnation, last_seq = excluded.last_seq,
         updated_at = excluded.updated_at`,
    );
    this.seen = storage.db.prepare(`SELECT 1 FROM applied_events WHERE event_id = ?`);
    this.mark = storage.db.prepare(
      `INSERT INTO applied_events (event_id, store, agent_id, incarnation, seq, kind, register, outcome,
         code, agent_at, applied_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    this.byStore = storage.db.prepare(
      `SELECT agent_id, last_seq, updated_at FROM agent_cursors WHERE store = ? ORDER BY updated_at DESC LIMIT 1`,
    );
    this.seenAmong = new MultiKeySelect(storage.db, `SELECT event_id FROM applied_events WHERE event_id IN (?*)`);
    this.incarnationsAmong = new MultiKeySelect(
      storage.db,
      `SELECT agent_id, incarnation, last_seq FROM agent_incarnations WHERE agent_id IN (?*)`,
    );
    this.markMany = new MultiRowInsert(
      storage.db,
      `INSERT INTO applied_events (event_id, store, agent_id, incarnation, seq, kind, register, outcome,
         code, agent_at, applied_at)`,
      ['text', 'text', 'text', 'text', 'int', 'text', 'text', 'text', 'text', 'text', 'text'],
    );
    this.putIncarnations = new MultiRowInsert(
      storage.db,
      `INSERT INTO agent_incarnations (agent_id, incarnation, store, last_seq, started_at, updated_at)`,
      ['text', 'text', 'text', 'int', 'text', 'text'],
      `ON CONFLICT (agent_id, incarnation) DO UPDATE
       SET last_seq = excluded.last_seq, updated_at = excluded.updated_at`,
    );
    this.putAgents = new MultiRowInsert(
      storage.db,
      `INSERT INTO agent_cursors (agent_id, store, incarnation, last_seq, updated_at)`,
      ['text', 'text', 'text', 'int', 'text'],
      `ON CONFLICT (agent_id) DO UPDATE SET incarnation = excluded.incarnation, last_seq = excluded.last_seq,
       updated_at = excluded.updated_at`,
    );
  }

  /** The agent's store, the incarnation it last used and that incarnation's cursor. */
  cursor(agentId: string): { store: string; incarnation: string; lastSeq: number } | undefined {
    const r = this.get.get(agentId) as { store: string; incarnation: string; last_seq: number } | undefined;
    return r ? { store: r.store, incarnation: r.incarnation, lastSeq: r.last_seq } : undefined;
  }

  /** The last seq applied from this incarnation of the agent's database (undefined: never seen). */
  incarnation(agentId: string, incarnation: string): { store: string; lastSeq: number } | undefined {
    const r = this.getIncarnation.get(agentId, incarnation) as { store: string; last_seq: number } | undefined;
    return r ? { store: r.store, lastSeq: r.last_seq } : undefined;
  }

  /**
   * Moves the cursor of (agent, incarnation) — created at 0 by the agent's first hello with it — and makes it the
   * agent's latest.
   */
  setCursor(agentId: string, incarnation: string, store: string, lastSeq: number): void {
    const now = iso(this.clock.now());
    this.storage.tx(() => {
      this.putIncarnation.run(agentId, incarnation, store, lastSeq, now, now);
      this.putAgent.run(agentId, store, incarnation, lastSeq, now);
    });
  }

  latestForStore(store: string): { agentId: string; lastSeq: number; updatedAt: string } | undefined {
    const r = this.byStore.get(store) as { agent_id: string; last_seq: number; updated_at: string } | undefined;
    return r ? { agentId: r.agent_id, lastSeq: r.last_seq, updatedAt: r.updated_at } : undefined;
  }

  wasApplied(eventId: string): boolean {
    return this.seen.get(eventId) !== undefined;
  }

  markApplied(e: AppliedMark): void {
    this.mark.run(...markRow(e, iso(this.clock.now())));
  }

  /** Which of `eventIds` the hub has applied — `wasApplied` for many, in one query up to 256. */
  appliedAmong(eventIds: readonly string[]): Set<string> {
    if (eventIds.length === 0) return new Set();
    return new Set((this.seenAmong.all(eventIds) as { event_id: string }[]).map((r) => r.event_id));
  }

  /** The cursor of every incarnation of these agents, keyed `agentId + '\0' + incarnation`. */
  incarnationsOf(agentIds: readonly string[]): Map<string, number> {
    const out = new Map<string, number>();
    if (agentIds.length === 0) return out;
    for (const r of this.incarnationsAmong.all(agentIds) as {
      agent_id: string;
      incarnation: string;
      last_seq: number;
    }[]) {
      out.set(`${r.agent_id}\u0000${r.incarnation}`, r.last_seq);
    }
    return out;
  }

  /** `markApplied` for many events, in a few multi-row statements. Call inside a transaction. */
  markAppliedMany(marks: readonly AppliedMark[]): void {
    if (marks.length === 0) return;
    const at = iso(this.clock.now());
    this.markMany.run(marks.map((e) => markRow(e, at)));
  }

  /**
   * `setCursor` for many, in order: what it leaves is what calling `setCursor` for each would (the
   * last move of an incarnation is its cursor, the last move of an agent its latest incarnation).
   */
  setCursors(moves: readonly CursorMove[]): void {
    if (moves.length === 0) return;
    const now = iso(this.clock.now());
    const incarnations = new Map<string, CursorMove>();
    const agents = new Map<string, CursorMove>();
    for (const m of moves) {
      // a key moved again takes its place at the end: one row per key in a statement (PostgreSQL
      // refuses to upsert one row twice in one statement)
      const k = `${m.agentId}\u0000${m.incarnation}`;
      incarnations.delete(k);
      incarnations.set(k, m);
      agents.delete(m.agentId);
      agents.set(m.agentId, m);
    }
    this.storage.tx(() => {
      this.putIncarnations.run(
        [...incarnations.values()].map((m) => [m.agentId, m.incarnation, m.store, m.lastSeq, now, now]),
      );
      this.putAgents.run([...agents.values()].map((m) => [m.agentId, m.store, m.incarnation, m.lastSeq, now]));
    });
  }
}
