/**
 * Collects what a transaction changed (inventory rows per store) and publishes it only after
 * the transaction commits; a rolled-back transaction publishes nothing.
 */
export class ChangeFeed {
  private pending = new Map<string, Set<string>>();
  private listeners: ((store: string, skus: string[]) => void)[] = [];

  inventoryChanged(store: string, sku: string): void {
    let s = this.pending.get(store);
    if (!s) this.pending.set(store, (s = new Set()));
    s.add(sku);
  }

  onInventory(listener: (store: string, skus: string[]) => void): void {
    this.listeners.push(listener);
  }

  discard(): void {
    this.pending.clear();
  }

  publish(): void {
    if (this.pending.size === 0) return;
    const p = this.pending;
    this.pending = new Map();
    for (const [store, skus] of p) for (const l of this.listeners) l(store, [...skus]);
  }
}
