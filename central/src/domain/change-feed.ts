import type { HubStorage } from '../storage/index.js';

/**
 * Collects what a transaction changed (inventory rows per store) and publishes it once the
 * transaction commits (the storage's after-commit effects: one place, whoever wrote); a rolled-back
 * transaction publishes nothing. A change made outside any transaction is published at once.
 */
export class ChangeFeed {
  private pending: { tx: number; changes: Map<string, Set<string>> } | undefined;
  private listeners: ((store: string, skus: string[]) => void)[] = [];

  constructor(private readonly storage: HubStorage) {}

  inventoryChanged(store: string, sku: string): void {
    const tx = this.storage.transactionId();
    if (tx === undefined) return this.emit(new Map([[store, new Set([sku])]]));
    if (this.pending?.tx !== tx) {
      // the first change of this transaction (a batch left by a rolled-back one is dropped here)
      const batch = { tx, changes: new Map<string, Set<string>>() };
      this.pending = batch;
      this.storage.afterCommit(() => {
        if (this.pending === batch) this.pending = undefined;
        this.emit(batch.changes);
      });
    }
    let s = this.pending.changes.get(store);
    if (!s) this.pending.changes.set(store, (s = new Set()));
    s.add(sku);
  }

  onInventory(listener: (store: string, skus: string[]) => void): void {
    this.listeners.push(listener);
  }

  private emit(changes: Map<string, Set<string>>): void {
    for (const [store, skus] of changes) for (const l of this.listeners) l(store, [...skus]);
  }
}
