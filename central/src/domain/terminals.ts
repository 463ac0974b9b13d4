import type { HubStorage, Statement } from '../storage/index.js';
import type { TerminalStatus } from '@tillbridge/shared';
import type { DeferredKind } from '../storage/deferred-writes.js';
import { iso, type Clock } from './clock.js';
import { HubEvents } from './hub-events.js';
import { ChangeListeners } from './change-listeners.js';

export interface TerminalRow {
  store: string;
  register: string;
  /** 'scanner' (a HID barcode scanner), 'register'; null: a register (its agent did not say) */
  kind: string | null;
  /** the codec a register's endpoint speaks (a scanner's: hid-pos, hid-keyboard); null: its agent did not say */
  codec: string | null;
  /** the register a scanner feeds */
  feeds: string | null;
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

/**
 * Each register's state as its agent last reported it (`terminal` frames). Current state, not
 * history, and the agent reports every register again on each connection: a deferred write —
 * except a change that is announced to a webhook, which is committed (synced) with the webhook's
 * message, since a webhook delivery is owed.
 */
export class Terminals {
  private readonly upsert: Statement;
  private readonly byStore: Statement;
  private readonly all: Statement;
  private readonly one: Statement;
  private readonly waiting: DeferredKind<TerminalRow>;
  private readonly changeListeners = new ChangeListeners();

  constructor(
    private readonly storage: HubStorage,
    private readonly clock: Clock,
    private readonly events: HubEvents,
  ) {
    this.one = storage.db.prepare(`SELECT * FROM terminals WHERE store = ? AND register = ?`);
    this.upsert = storage.db.prepare(
      `INSERT INTO terminals (store, register, kind, codec, feeds, state, detail, transport, connections,
         reported_state, reported_detail, reported_at, last_message_at, at, updated_at)
       VALUES (@store, @register, @kind, @codec, @feeds, @state, @detail, @transport, @connections, @reported_state,
         @reported_detail, @reported_at, @last_message_at, @at, @updated_at)
       ON CONFLICT (store, register) DO UPDATE SET kind = excluded.kind, codec = excluded.codec, feeds = excluded.feeds,
         state = excluded.state, detail = excluded.detail,
         transport = excluded.transport, connections = excluded.connections, reported_state = excluded.reported_state,
         reported_detail = excluded.reported_detail, reported_at = excluded.reported_at,
         last_message_at = excluded.last_message_at, at = excluded.at, updated_at = excluded.updated_at
       WHERE excluded.at >= terminals.at`,
    );
    this.byStore = storage.db.prepare(`SELECT * FROM terminals WHERE store = ? ORDER BY register`);
    this.all = storage.db.prepare(`SELECT * FROM terminals ORDER BY store, register`);
    this.waiting = storage.deferred.kind('terminals', (row) => void this.upsert.run(row));
  }

  /** The register's status as held now: what waits to be written, else what is stored. */
  private current(store: string, register: string): TerminalRow | undefined {
    return this.waiting.get(store, register) ?? (this.one.get(store, register) as TerminalRow | undefined);
  }

  /**
   * Hears each report that changes a register's state, what it says of itself or its connections, or a scanner's last
   * scan, once recorded (the operator console's store page). Reports made to other hub processes are not heard here.
   */
  onChange(listener: (store: string) => void): void {
    this.changeListeners.add(listener);
  }

  private changed(store: string): void {
    this.changeListeners.tell(store);
  }

  /** Records a status; an older report than the one held is ignored. Returns whether it changed. */
  record(store: string, t: TerminalStatus): boolean {
    const before = this.current(store, t.register);
    if (before && t.at < before.at) return false;
    const row = this.row(store, t);
    // announced when the link state or what the register says about itself changes, not for each message
    const announced =
      before?.state !== row.state ||
      before.detail !== row.detail ||
      before.reported_state !== row.reported_state ||
      before.reported_detail !== row.reported_detail;
    if (announced && this.events.wants('terminal.status', store)) {
      this.storage.tx(() => {
        this.upsert.run(row);
        this.events.emit('terminal.status', store, () => ({
          store,
          register: t.register,
          ...(t.kind ? { kind: t.kind } : {}),
          ...(t.codec ? { codec: t.codec } : {}),
          ...(t.feeds ? { feeds: t.feeds } : {}),
          state: t.state,
          detail: t.detail ?? null,
          previous: before?.state ?? null,
          transport: t.transport,
          connections: t.connections,
          reported: t.reported ?? null,
          lastMessageAt: t.lastMessageAt ?? null,
          at: t.at,
        }));
      });
      this.waiting.delete(store, t.register);
    } else {
      this.waiting.put(store, t.register, row);
    }
    // a scanner's scans are few (a person scans): each one's time is heard too, not each message of a register
    const scanned = row.kind === 'scanner' && before?.last_message_at !== row.last_message_at;
    if (announced || scanned || before.connections !== row.connections) this.changed(store);
    return true;
  }

  private row(store: string, t: TerminalStatus): TerminalRow {
    return {
      store,
      register: t.register,
      kind: t.kind ?? null,
      codec: t.codec ?? null,
      feeds: t.feeds ?? null,
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
    };
  }

  list(store?: string): TerminalRow[] {
    const rows = new Map<string, TerminalRow>();
    for (const r of (store ? this.byStore.all(store) : this.all.all()) as TerminalRow[])
      rows.set(`${r.store}\0${r.register}`, r);
    for (const r of store ? this.waiting.ofStore(store) : this.waiting.all()) rows.set(`${r.store}\0${r.register}`, r);
    const key = (r: TerminalRow): string => `${r.store}\0${r.register}`;
    return [...rows.values()].sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
  }
}
