import type { HubStorage, Statement } from '../storage/index.js';
import { fromMilli, newId } from '@tillbridge/shared';
import type { ChangeFeed } from './change-feed.js';
import { iso, type Clock } from './clock.js';
import { HubEvents } from './hub-events.js';
import { MultiRowInsert } from './multi-row.js';

export type MovementKind = 'sale' | 'return' | 'adjustment' | 'exchange';

export interface InventoryRow {
  store: string;
  sku: string;
  /** milli-units */
  onHand: number;
  updatedAt: string;
}

/** One movement of `InventoryLedger.moveMany`. */
export interface Movement {
  store: string;
  sku: string;
  /** milli-units */
  delta: number;
  kind: MovementKind;
  ref: string;
}

/**
 * Inventory as a ledger (DESIGN rule 5): on-hand changes only through movements, and the
 * inventory row is updated in the same statement sequence, inside the caller's transaction.
 */
export class InventoryLedger {
  private readonly insertMove: Statement;
  private readonly upsert: Statement;
  private readonly getOne: Statement;
  private readonly byStore: Statement;
  private readonly sumMoves: Statement;
  private readonly insertMoves: MultiRowInsert;
  private readonly upsertMany: MultiRowInsert;

  constructor(
    private readonly storage: HubStorage,
    private readonly clock: Clock,
    private readonly feed: ChangeFeed,
    private readonly events: HubEvents,
  ) {
    this.insertMove = storage.db.prepare(
      `INSERT INTO movements (id, store, sku, delta, kind, ref, at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
    );
    this.upsert = storage.db.prepare(
      `INSERT INTO inventory (store, sku, on_hand, updated_at) VALUES (?, ?, ?, ?)
       ON CONFLICT (store, sku) DO UPDATE SET on_hand = inventory.on_hand + excluded.on_hand,
         updated_at = excluded.updated_at`,
    );
    this.getOne = storage.db.prepare(
      `SELECT store, sku, on_hand AS onHand, updated_at AS updatedAt FROM inventory WHERE store = ? AND sku = ?`,
    );
    this.byStore = storage.db.prepare(
      `SELECT store, sku, on_hand AS onHand, updated_at AS updatedAt FROM inventory WHERE store = ? ORDER BY sku`,
    );
    this.sumMoves = storage.db.prepare(
      `SELECT COALESCE(SUM(delta), 0) AS total FROM movements WHERE store = ? AND sku = ?`,
    );
    this.insertMoves = new MultiRowInsert(storage.db, `INSERT INTO movements (id, store, sku, delta, kind, ref, at)`, [
      'text',
      'text',
      'text',
      'int',
      'text',
      'text',
      'text',
    ]);
    this.upsertMany = new MultiRowInsert(
      storage.db,
      `INSERT INTO inventory (store, sku, on_hand, updated_at)`,
      ['text', 'text', 'int', 'text'],
      `ON CONFLICT (store, sku) DO UPDATE SET on_hand = inventory.on_hand + excluded.on_hand,
       updated_at = excluded.updated_at RETURNING store, sku, on_hand AS onHand`,
    );
  }

  /** Records a movement of `deltaMilli` and applies it to on-hand. Call inside a transaction. */
  move(store: string, sku: string, deltaMilli: number, kind: MovementKind, ref: string): void {
    if (deltaMilli === 0) return;
    const at = iso(this.clock.now());
    this.storage.tx(() => {
      this.insertMove.run(newId(), store, sku, deltaMilli, kind, ref, at);
      this.upsert.run(store, sku, deltaMilli, at);
      this.events.emit('inventory.adjusted', store, () => ({
        store,
        sku,
        delta: fromMilli(deltaMilli),
        onHand: fromMilli((this.getOne.get(store, sku) as InventoryRow).onHand),
        kind,
        ref,
        at,
      }));
    });
    this.feed.inventoryChanged(store, sku);
  }

  /**
   * `move` for many movements, in order, in a few multi-row statements: every movement is a row,
   * and each (store, SKU) is updated once by the sum of its movements (on-hand = sum of movements,
   * as after moving one by one). `inventory.adjusted` is announced for each movement, in order, with
   * the on-hand it left. Call inside a transaction.
   */
  moveMany(moves: readonly Movement[], beforeAnnounce?: (m: Movement) => void): void {
    const real = moves.filter((m) => m.delta !== 0);
    if (real.length === 0) return;
    const at = iso(this.clock.now());
    const key = (store: string, sku: string): string => `${store}\u0000${sku}`;
    const sums = new Map<string, { store: string; sku: string; delta: number }>();
    for (const m of real) {
      const k = key(m.store, m.sku);
      const s = sums.get(k);
      if (s) s.delta += m.delta;
      else sums.set(k, { store: m.store, sku: m.sku, delta: m.delta });
    }
    this.storage.tx(() => {
      this.insertMoves.run(real.map((m) => [newId(), m.store, m.sku, m.delta, m.kind, m.ref, at]));
      const after = this.upsertMany.returning([...sums.values()].map((s) => [s.store, s.sku, s.delta, at])) as {
        store: string;
        sku: string;
        onHand: number | string; // a PostgreSQL BIGINT comes as a string
      }[];
      if (real.some((m) => this.events.wants('inventory.adjusted', m.store))) {
        // on-hand after each movement: the final one less the movements after it
        const onHand = new Map(after.map((r) => [key(r.store, r.sku), Number(r.onHand)]));
        const left = real.map(() => 0);
        for (const [i, move] of [...real.entries()].reverse()) {
          const k = key(move.store, move.sku);
          const final = onHand.get(k) ?? 0; // every moved store/sku is in `after`
          left[i] = final;
          onHand.set(k, final - move.delta);
        }
        real.forEach((m, i) => {
          beforeAnnounce?.(m);
          this.events.emit('inventory.adjusted', m.store, () => ({
            store: m.store,
            sku: m.sku,
            delta: fromMilli(m.delta),
            onHand: fromMilli(left[i] ?? 0),
            kind: m.kind,
            ref: m.ref,
            at,
          }));
        });
      }
    });
    for (const m of real) this.feed.inventoryChanged(m.store, m.sku);
  }

  /** Sets on-hand to `qtyMilli` through an adjustment movement; returns the delta. */
  setOnHand(store: string, sku: string, qtyMilli: number, ref: string): number {
    return this.storage.tx(() => {
      const cur = this.get(store, sku)?.onHand ?? 0;
      const delta = qtyMilli - cur;
      if (delta !== 0) this.move(store, sku, delta, 'adjustment', ref);
      else if (!this.get(store, sku)) {
        this.upsert.run(store, sku, 0, iso(this.clock.now()));
        this.feed.inventoryChanged(store, sku);
      }
      return delta;
    });
  }

  get(store: string, sku: string): InventoryRow | undefined {
    return this.getOne.get(store, sku) as InventoryRow | undefined;
  }

  list(store: string): InventoryRow[] {
    return this.byStore.all(store) as InventoryRow[];
  }

  /** The ledger's own answer: the sum of the movements (for checks and tests). */
  sumOfMovements(store: string, sku: string): number {
    return (this.sumMoves.get(store, sku) as { total: number }).total;
  }
}
