import type { Statement } from 'better-sqlite3';
import type { HubStorage } from '../storage/sqlite.js';
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
  private readonly seen: Statement;

  constructor(s: HubStorage, private readonly clock: Clock) {
    this.insert = s.db.prepare(`INSERT INTO stores (id, name, created_at) VALUES (?, ?, ?)`);
    this.getOne = s.db.prepare(`SELECT * FROM stores WHERE id = ?`);
    this.all = s.db.prepare(`SELECT * FROM stores ORDER BY id`);
    this.seen = s.db.prepare(`UPDATE stores SET last_seen_at = ? WHERE id = ?`);
  }

  create(id: string, name: string): void {
    this.insert.run(id, name, iso(this.clock.now()));
  }

  get(id: string): StoreRow | undefined {
    return this.getOne.get(id) as StoreRow | undefined;
  }

  list(): StoreRow[] {
    return this.all.all() as StoreRow[];
  }

  touch(id: string, atMs: number): void {
    this.seen.run(iso(atMs), id);
  }
}
