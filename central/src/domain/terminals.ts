import type { Statement } from 'better-sqlite3';
import type { TerminalStatus } from '@tillbridge/shared';
import type { HubStorage } from '../storage/sqlite.js';
import { iso, type Clock } from './clock.js';
import { HubEvents } from './hub-events.js';

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

  private readonly one: Statement;

  constructor(private readonly s: HubStorage, private readonly clock: Clock, private readonly events: HubEvents = new HubEvents()) {
    this.one = s.db.prepare(`SELECT state, reported_state, reported_detail, detail FROM terminals WHERE store = ? AND register = ?`);
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
    return this.s.tx(() => {
      const before = this.one.get(store, t.register) as { state: string; reported_state: string | null; reported_detail: string | null; detail: string | null } | undefined;
      const changed = this.save(store, t);
      // announced when the link state or what the register says about itself changes, not for each message
      if (changed && (!before || before.state !== t.state || before.detail !== (t.detail ?? null) || before.reported_state !== (t.reported?.state ?? null) || before.reported_detail !== (t.reported?.detail ?? null))) {
        this.events.emit('terminal.status', store, () => ({ store, register: t.register, state: t.state, detail: t.detail ?? null, previous: before?.state ?? null, transport: t.transport, connections: t.connections, reported: t.reported ?? null, lastMessageAt: t.lastMessageAt ?? null, at: t.at }));
      }
      return changed;
    });
  }

  private save(store: string, t: TerminalStatus): boolean {
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
