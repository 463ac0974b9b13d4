import type { HubStorage, Statement } from '../storage/index.js';
import { newId } from '@tillbridge/shared';
import { iso, type Clock } from './clock.js';
import { HubEvents } from './hub-events.js';

export interface ExceptionRow {
  id: string;
  store: string;
  register: string | null;
  event_id: string | null;
  kind: string;
  code: string;
  reason: string;
  authorization: string | null;
  body: string | null;
  created_at: string;
  resolved_at: string | null;
  resolution: string | null;
}

/** An exception as the admin API and the console show it (its resolution aside), in their field names. */
export function exceptionFields(e: ExceptionRow) {
  return {
    id: e.id,
    store: e.store,
    register: e.register,
    kind: e.kind,
    code: e.code,
    reason: e.reason,
    authorization: e.authorization,
    eventId: e.event_id,
    createdAt: e.created_at,
    resolvedAt: e.resolved_at,
  };
}

/** Events refused for good and returns flagged on reconciliation: kept and listed, never dropped. */
export class Exceptions {
  private readonly insert: Statement;
  private readonly list: Statement;
  private readonly listAll: Statement;
  private readonly byAuth: Statement;

  constructor(
    s: HubStorage,
    private readonly clock: Clock,
    private readonly events: HubEvents,
  ) {
    this.insert = s.db.prepare(
      `INSERT INTO exceptions (id, store, register, event_id, kind, code, reason, authorization, body, created_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    this.list = s.db.prepare(`SELECT * FROM exceptions WHERE store = ? ORDER BY created_at, id`);
    this.listAll = s.db.prepare(`SELECT * FROM exceptions ORDER BY created_at, id`);
    this.byAuth = s.db.prepare(`SELECT * FROM exceptions WHERE authorization = ? ORDER BY created_at, id`);
  }

  /** `announce: false`: no return.exception event (the caller announces it its own way: day.discrepancy). */
  record(
    e: {
      store: string;
      register?: string;
      eventId?: string;
      kind: string;
      code: string;
      reason: string;
      authorization?: string;
      body?: unknown;
    },
    opts: { announce?: boolean } = {},
  ): string {
    const id = newId();
    this.insert.run(
      id,
      e.store,
      e.register ?? null,
      e.eventId ?? null,
      e.kind,
      e.code,
      e.reason,
      e.authorization ?? null,
      e.body === undefined ? null : JSON.stringify(e.body),
      iso(this.clock.now()),
    );
    if (opts.announce !== false)
      this.events.exceptionRecorded(e.eventId ? 'refused' : 'flagged', e.store, () => ({
        id,
        store: e.store,
        register: e.register ?? null,
        event: e.eventId ? { id: e.eventId, kind: e.kind } : null,
        kind: e.kind,
        code: e.code,
        reason: e.reason,
        authorization: e.authorization ?? null,
        at: iso(this.clock.now()),
      }));
    return id;
  }

  forStore(store?: string): ExceptionRow[] {
    return (store ? this.list.all(store) : this.listAll.all()) as ExceptionRow[];
  }

  forAuthorization(authorization: string): ExceptionRow[] {
    return this.byAuth.all(authorization) as ExceptionRow[];
  }
}
