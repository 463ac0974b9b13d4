import type { HubStorage, Statement } from '../storage/index.js';
import { fromMilli, inventoryDigest } from '@tillbridge/shared';
import type { DeferredKind } from '../storage/deferred-writes.js';
import { iso, type Clock } from './clock.js';
import type { InventoryLedger } from './inventory-ledger.js';

export interface AccuracyReport {
  store: string;
  skus: number;
  matching: number;
  /** matching / skus (1 when the store holds no SKU) */
  ratio: number;
  at: string;
}

export interface Corrections {
  items: { sku: string; onHand: number }[];
  removed: string[];
}

interface AccuracyRow {
  store: string;
  skus: number;
  matching: number;
  at: string;
}

/**
 * Inventory data accuracy (one of the seed's three metrics): each agent reports a digest of its
 * inventory copy; the hub counts the store's SKUs whose copy matches its own, keeps the ratio,
 * and says what to re-send so the next report matches. The ratio is a deferred write: the agent
 * reports again after every connection and on its refresh timer.
 */
export class InventoryAccuracy {
  private readonly waiting: DeferredKind<AccuracyRow>;
  private readonly getOne: Statement;
  private readonly all: Statement;

  constructor(
    s: HubStorage,
    private readonly ledger: InventoryLedger,
    private readonly clock: Clock,
  ) {
    const put = s.db.prepare(
      `INSERT INTO inventory_accuracy (store, skus, matching, at) VALUES (@store, @skus, @matching, @at)
       ON CONFLICT (store) DO UPDATE SET skus = excluded.skus, matching = excluded.matching, at = excluded.at`,
    );
    this.waiting = s.deferred.kind('inventory_accuracy', (row) => void put.run(row));
    this.getOne = s.db.prepare(`SELECT * FROM inventory_accuracy WHERE store = ?`);
    this.all = s.db.prepare(`SELECT * FROM inventory_accuracy ORDER BY store`);
  }

  /**
   * Compares a store's digest with the hub's inventory; records the ratio; returns what differs.
   * `inFlight`: SKUs already re-sent to the agent after the copy it digested (neither counted nor corrected).
   */
  compare(
    store: string,
    digest: { sku: string; h: string }[],
    inFlight: ReadonlySet<string> = new Set(),
  ): { report: AccuracyReport; corrections: Corrections } {
    const theirs = new Map(digest.map((d) => [d.sku, d.h]));
    for (const sku of inFlight) theirs.delete(sku);
    const rows = this.ledger.list(store).filter((r) => !inFlight.has(r.sku));
    let matching = 0;
    const items: Corrections['items'] = [];
    for (const r of rows) {
      const onHand = fromMilli(r.onHand);
      if (theirs.get(r.sku) === inventoryDigest(r.sku, onHand)) matching++;
      else items.push({ sku: r.sku, onHand });
      theirs.delete(r.sku);
    }
    const at = iso(this.clock.now());
    this.waiting.put(store, '', { store, skus: rows.length, matching, at });
    return {
      report: { store, skus: rows.length, matching, ratio: rows.length === 0 ? 1 : matching / rows.length, at },
      corrections: { items, removed: [...theirs.keys()] },
    };
  }

  get(store: string): AccuracyReport | undefined {
    const r = this.waiting.get(store, '') ?? (this.getOne.get(store) as AccuracyRow | undefined);
    return r && withRatio(r);
  }

  list(): AccuracyReport[] {
    const rows = new Map((this.all.all() as AccuracyRow[]).map((r) => [r.store, r]));
    for (const r of this.waiting.all()) rows.set(r.store, r);
    return [...rows.values()].sort((a, b) => (a.store < b.store ? -1 : a.store > b.store ? 1 : 0)).map(withRatio);
  }
}

function withRatio(r: AccuracyRow): AccuracyReport {
  return {
    store: r.store,
    skus: r.skus,
    matching: r.matching,
    ratio: r.skus === 0 ? 1 : r.matching / r.skus,
    at: r.at,
  };
}
