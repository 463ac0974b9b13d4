import type { HubStorage, Statement } from '../storage/index.js';
import type { DeferredKind } from '../storage/deferred-writes.js';
import { iso, type Clock } from './clock.js';

export interface StoreRow {
  id: string;
  name: string;
  created_at: string;
  last_seen_at: string | null;
}

export const STORE_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

export class Stores {
  private readonly insert: Statement;
  private readonly getOne: Statement;
  private readonly all: Statement;
  /** when each store's agent was last seen, not yet written (nobody is owed it: a deferred write) */
  private readonly lastSeen: DeferredKind<{ id: string; at: string }>;

  constructor(
    s: HubStorage,
    private readonly clock: Clock,
  ) {
    this.insert = s.db.prepare(`INSERT INTO stores (id, name, created_at) VALUES (?, ?, ?)`);
    this.getOne = s.db.prepare(`SELECT * FROM stores WHERE id = ?`);
    this.all = s.db.prepare(`SELECT * FROM stores ORDER BY id`);
    const seen = s.db.prepare(`UPDATE stores SET last_seen_at = ? WHERE id = ?`);
    this.lastSeen = s.deferred.kind('stores.last_seen_at', (v) => void seen.run(v.at, v.id));
  }

  /** The row with the last seen time held in memory laid over it. */
  private withSeen(r: StoreRow): StoreRow {
    const waiting = this.lastSeen.get(r.id, '');
    return waiting ? { ...r, last_seen_at: waiting.at } : r;
  }

  create(id: string, name: string): void {
    this.insert.run(id, name, iso(this.clock.now()));
  }

  get(id: string): StoreRow | undefined {
    const r = this.getOne.get(id) as StoreRow | undefined;
    return r && this.withSeen(r);
  }

  list(): StoreRow[] {
    return (this.all.all() as StoreRow[]).map((r) => this.withSeen(r));
  }

  /** The store's agent was seen at `atMs` (written with the next batch of deferred writes). */
  touch(id: string, atMs: number): void {
    this.lastSeen.put(id, '', { id, at: iso(atMs) });
  }
}
