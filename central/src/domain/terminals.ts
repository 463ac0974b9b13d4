import type { Statement } from 'better-sqlite3';
import type { TerminalStatus } from '@tillbridge/shared';
import type { HubStorage } from '../storage/sqlite.js';
import { iso, type Clock } from './clock.js';

export interface TerminalRow {
  store: string;
  register: string;
  state: string;
  detail: string | null;
  transport: string;
  connections: number;
  reported_state: string | null;
  reported_detail: string | null;
  reported_at: string | null;
  last_message_at: string | null;
  at: string;
  updated_at: string;
}

/** Each register's state as its agent last reported it (`terminal` frames). */
export class Terminals {
  private readonly upsert: Statement;
  private readonly byStore: Statement;
  private readonly all: Statement;

  constructor(s: HubStorage, private readonly clock: Clock) {
    this.upsert = s.db.prepare(
      `INSERT INTO terminals (store, register, state, detail, transport, connections, reported_state, reported_detail, reported_at, last_message_at, at, updated_at)
       VALUES (@store, @register, @state, @detail, @transport, @connections, @reported_state, @reported_detail, @reported_at, @last_message_at, @at, @updated_at)
       ON CONFLICT (store, register) DO UPDATE SET state = excluded.state, detail = excluded.detail, transport = excluded.transport,
         connections = excluded.connections, reported_state = excluded.reported_state, reported_detail = excluded.reported_detail,
         reported_at = excluded.reported_at, last_message_at = excluded.last_message_at, at = excluded.at, updated_at = excluded.updated_at
       WHERE excluded.at >= terminals.at`,
    );
    this.byStore = s.db.prepare(`SELECT * FROM terminals WHERE store = ? ORDER BY register`);
    this.all = s.db.prepare(`SELECT * FROM terminals ORDER BY store, register`);
  }

  /** Records a status; an older report than the one held is ignored. Returns whether it changed. */
  record(store: string, t: TerminalStatus): boolean {
    return (
      this.upsert.run({
        store,
        register: t.register,
        state: t.state,
        detail: t.detail ?? null,
        transport: t.transport,
        connections: t.connections,
        reported_state: t.reported?.state ?? null,
        reported_detail: t.reported?.detail ?? null,
        reported_at: t.reported?.at ?? null,
        last_message_at: t.lastMessageAt ?? null,
        at: t.at,
        updated_at: iso(this.clock.now()),
      }).changes > 0
    );
  }

  list(store?: string): TerminalRow[] {
    return (store ? this.byStore.all(store) : this.all.all()) as TerminalRow[];
  }
}
