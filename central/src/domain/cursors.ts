import type { Statement } from 'better-sqlite3';
import type { HubStorage } from '../storage/sqlite.js';
import { iso, type Clock } from './clock.js';

/** Per agent: the last applied seq (DESIGN rule 2), and every applied event id. */
export class Cursors {
  private readonly get: Statement;
  private readonly put: Statement;
  private readonly seen: Statement;
  private readonly mark: Statement;
  private readonly byStore: Statement;

  constructor(s: HubStorage, private readonly clock: Clock) {
    this.get = s.db.prepare(`SELECT store, last_seq FROM agent_cursors WHERE agent_id = ?`);
    this.put = s.db.prepare(
      `INSERT INTO agent_cursors (agent_id, store, last_seq, updated_at) VALUES (?, ?, ?, ?)
       ON CONFLICT (agent_id) DO UPDATE SET last_seq = excluded.last_seq, updated_at = excluded.updated_at`,
    );
    this.seen = s.db.prepare(`SELECT 1 FROM applied_events WHERE event_id = ?`);
    this.mark = s.db.prepare(
      `INSERT INTO applied_events (event_id, store, agent_id, seq, kind, register, outcome, code, agent_at, applied_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    this.byStore = s.db.prepare(`SELECT agent_id, last_seq, updated_at FROM agent_cursors WHERE store = ? ORDER BY updated_at DESC LIMIT 1`);
  }

  cursor(agentId: string): { store: string; lastSeq: number } | undefined {
    const r = this.get.get(agentId) as { store: string; last_seq: number } | undefined;
    return r ? { store: r.store, lastSeq: r.last_seq } : undefined;
  }

  setCursor(agentId: string, store: string, lastSeq: number): void {
    this.put.run(agentId, store, lastSeq, iso(this.clock.now()));
  }

  latestForStore(store: string): { agentId: string; lastSeq: number; updatedAt: string } | undefined {
    const r = this.byStore.get(store) as { agent_id: string; last_seq: number; updated_at: string } | undefined;
    return r ? { agentId: r.agent_id, lastSeq: r.last_seq, updatedAt: r.updated_at } : undefined;
  }

  wasApplied(eventId: string): boolean {
    return this.seen.get(eventId) !== undefined;
  }

  markApplied(e: { eventId: string; store: string; agentId: string; seq: number; kind: string; register: string; outcome: string; code: string | null; agentAt: string }): void {
    this.mark.run(e.eventId, e.store, e.agentId, e.seq, e.kind, e.register, e.outcome, e.code, e.agentAt, iso(this.clock.now()));
  }
}
