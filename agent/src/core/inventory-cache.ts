import type { Statement } from 'better-sqlite3';
import { withoutFsync, type Db } from '../db/agent-db.js';
import { fromMilli, inventoryDigest, systemClock, toMilli } from '@tillbridge/shared';

/** The store's inventory as the hub last pushed it; read offline and by `status`. */
export class InventoryCache {
  private readonly upsert: Statement;
  private readonly clear: Statement;
  private readonly all: Statement;
  private readonly one: Statement;
  private readonly del: Statement;
  private readonly countAll: Statement;

  constructor(
    private readonly db: Db,
    private readonly now: () => number = () => systemClock.now(),
  ) {
    this.upsert = db.prepare(
      `INSERT INTO inventory (sku, on_hand, updated_ms) VALUES (?, ?, ?)
       ON CONFLICT(sku) DO UPDATE SET on_hand = excluded.on_hand, updated_ms = excluded.updated_ms`,
    );
    this.clear = db.prepare(`DELETE FROM inventory`);
    this.all = db.prepare(`SELECT sku, on_hand FROM inventory ORDER BY sku`);
    this.one = db.prepare(`SELECT on_hand FROM inventory WHERE sku = ?`);
    this.del = db.prepare(`DELETE FROM inventory WHERE sku = ?`);
    this.countAll = db.prepare(`SELECT COUNT(*) AS n FROM inventory`);
  }

  /**
   * Writes one push. Its commit does not wait for the disk: a power loss may undo the newest pushes, and the agent
   * gets the whole copy again from the hub when it connects (every welcome is followed by a full push), so an
   * fsync per push — one per sale the store rings up, since each moves stock — would buy nothing.
   */
  apply(full: boolean, items: { sku: string; onHand: number }[], removed: string[] = []): void {
    const ms = this.now();
    const write = this.db.transaction(() => {
      if (full) this.clear.run();
      for (const i of items) this.upsert.run(i.sku, toMilli(i.onHand), ms);
      for (const sku of removed) this.del.run(sku);
    });
    withoutFsync(this.db, () => write.immediate());
  }

  /** The digest the hub compares with its own (inventory data accuracy). */
  digest(): { sku: string; h: string }[] {
    return this.list().map((r) => ({ sku: r.sku, h: inventoryDigest(r.sku, r.onHand) }));
  }

  /** How many SKUs the copy holds (status and metrics ask on every read: no rows loaded). */
  count(): number {
    return (this.countAll.get() as { n: number }).n;
  }

  list(): { sku: string; onHand: number }[] {
    return (this.all.all() as { sku: string; on_hand: number }[]).map((r) => ({
      sku: r.sku,
      onHand: fromMilli(r.on_hand),
    }));
  }

  get(sku: string): number | undefined {
    const r = this.one.get(sku) as { on_hand: number } | undefined;
    return r ? fromMilli(r.on_hand) : undefined;
  }
}
