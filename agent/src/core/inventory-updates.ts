import type { InventoryCache } from './inventory-cache.js';

/** One inventory push, or several merged: `full` replaces the whole copy. */
export interface InventoryUpdate {
  full: boolean;
  items: Map<string, number>;
  removed: Set<string>;
}

export function inventoryUpdate(
  full: boolean,
  items: { sku: string; onHand: number }[],
  removed: string[],
): InventoryUpdate {
  const u: InventoryUpdate = { full, items: new Map(), removed: new Set() };
  for (const i of items) u.items.set(i.sku, i.onHand);
  for (const sku of removed) {
    u.items.delete(sku);
    if (!full) u.removed.add(sku);
  }
  return u;
}

/** `later` applied after `earlier`, as one update. */
export function mergeInventoryUpdates(earlier: InventoryUpdate, later: InventoryUpdate): InventoryUpdate {
  if (later.full) return later;
  const out: InventoryUpdate = { full: earlier.full, items: new Map(earlier.items), removed: new Set(earlier.removed) };
  for (const [sku, onHand] of later.items) {
    out.items.set(sku, onHand);
    out.removed.delete(sku);
  }
  for (const sku of later.removed) {
    out.items.delete(sku);
    if (!out.full) out.removed.add(sku);
  }
  return out;
}

/** How the pushes are written: at once, or kept and tried again when that fails (WriteRetry). */
export interface Writes {
  run(what: string, write: () => void): boolean;
}

/**
 * The hub's inventory pushes, written to the cache in the order they came. A push that cannot be
 * written now (a full disk) is kept; later pushes merge into it, and the merged update is written
 * as soon as a write succeeds, so the copy converges without a restart or a reconnection.
 */
export class InventoryUpdates {
  private owed: InventoryUpdate | undefined;
  /** a write of `owed` has failed */
  private late = false;

  constructor(
    private readonly cache: InventoryCache,
    private readonly writes: Writes,
    /** Hears each update once it is in the cache; `caughtUp`: it had failed before. */
    private readonly onWritten: (u: InventoryUpdate, caughtUp: boolean) => void = () => undefined,
  ) {}

  /** Whether pushes wait to be written: the cache is behind the hub. */
  get behind(): boolean {
    return this.owed !== undefined;
  }

  push(full: boolean, items: { sku: string; onHand: number }[], removed: string[]): void {
    const next = inventoryUpdate(full, items, removed);
    this.owed = this.owed ? mergeInventoryUpdates(this.owed, next) : next;
    const written = this.writes.run('inventory', () => {
      const u = this.owed;
      if (!u) return;
      this.cache.apply(
        u.full,
        [...u.items].map(([sku, onHand]) => ({ sku, onHand })),
        [...u.removed],
      );
      this.owed = undefined;
      const caughtUp = this.late;
      this.late = false;
      this.onWritten(u, caughtUp);
    });
    if (!written) this.late = true;
  }
}
