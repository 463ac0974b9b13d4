import type { HubStorage } from '../storage/index.js';

interface Batch {
  tx: number;
  changes: Map<string, Set<string>>;
  emitted: boolean;
}

/**
 * Collects what a transaction changed (inventory rows per store) and publishes it once the
 * transaction commits (the storage's after-commit effects: one place, whoever wrote); a rolled-back
 * transaction publishes nothing. A change made outside any transaction is published at once.
 *
 * Savepoints: an after-commit effect registered inside a savepoint that rolls back is dropped with
 * it, so the announcement is registered again with every change, even of a SKU the transaction
 * changed before (that change may have been in a savepoint rolled back since, its effect gone with
 * it); the first of them to run announces the whole batch, once. A SKU changed only in a
 * rolled-back savepoint may still be announced with the rest: the announcement carries the
 * committed quantity, unchanged.
 */
export class ChangeFeed {
  private pending: Batch | undefined;
  private listeners: ((store: string, skus: string[]) => void)[] = [];

  constructor(private readonly storage: HubStorage) {}

  inventoryChanged(store: string, sku: string): void {
    const tx = this.storage.transactionId();
    if (tx === undefined) {
      this.emit(new Map([[store, new Set([sku])]]));
      return;
    }
    // the first change of this transaction (a batch left by a rolled-back one is dropped here)
    if (this.pending?.tx !== tx) this.pending = { tx, changes: new Map(), emitted: false };
    const batch = this.pending;
    let s = batch.changes.get(store);
    if (!s) batch.changes.set(store, (s = new Set()));
    s.add(sku);
    this.storage.afterCommit(() => {
      if (batch.emitted) return;
      batch.emitted = true;
      if (this.pending === batch) this.pending = undefined;
      this.emit(batch.changes);
    });
  }

  onInventory(listener: (store: string, skus: string[]) => void): void {
    this.listeners.push(listener);
  }

  private emit(changes: Map<string, Set<string>>): void {
    for (const [store, skus] of changes) for (const l of this.listeners) l(store, [...skus]);
  }
}
